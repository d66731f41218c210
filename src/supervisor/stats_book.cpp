#include "supervisor/stats_book.hpp"

#include <gracedb/log.hpp>

namespace gracedb::supervisor_detail {

const char* to_string(Outcome o) noexcept {
    switch (o) {
        case Outcome::uploaded: return "uploaded";
        case Outcome::already_uploaded: return "already-uploaded";
        case Outcome::skipped: return "skipped";
        case Outcome::dead: return "dead-lettered";
        case Outcome::transient: return "retrying";
        case Outcome::dropped: return "dropped";
    }
    return "?";
}

void StatsBook::report(const Job& job, Outcome outcome, const std::string& detail,
                       std::optional<std::chrono::system_clock::time_point> finished) {
    std::optional<std::chrono::duration<double>> delay;
    if (job.producer_timestamp) {
        const auto end = finished.value_or(std::chrono::system_clock::now());
        delay = std::chrono::duration<double>(std::chrono::duration<double>(end.time_since_epoch()).count() -
                                              *job.producer_timestamp);
    }
    {
        std::lock_guard lock{mutex_};
        switch (outcome) {
            case Outcome::uploaded:
                ++stats_.uploaded;
                stats_.last_upload = std::chrono::system_clock::now();
                if (delay) {
                    stats_.delays.add(delay->count());
                    recent_delays_.push_back(delay->count());
                    if (recent_delays_.size() > SupervisorStats::kRecentDelays) recent_delays_.pop_front();
                }
                break;
            case Outcome::already_uploaded: ++stats_.already_uploaded; break;
            case Outcome::skipped: ++stats_.skipped; break;
            case Outcome::dead: ++stats_.dead_lettered; break;
            case Outcome::transient: ++stats_.retries; break;
            case Outcome::dropped: ++stats_.dropped; break;
        }
    }
    metrics_.outcome(to_string(outcome));
    if (outcome == Outcome::uploaded && delay) metrics_.delay(delay->count());
    const auto level = outcome == Outcome::dead ? LogLevel::warning : LogLevel::info;
    if (level >= log_level())
        log(level, "supervisor: " + job.tp.to_string() + "@" + std::to_string(job.offset) + " " +
                       job.graceid.value_or("-") + " " + to_string(outcome) + " (" + detail + ")" +
                       (delay ? ", delay " + std::to_string(delay->count()) + " s" : ""));
    if (on_event_) {
        try {
            on_event_(SupervisorEvent{job.tp.topic, job.tp.partition, job.offset, job.graceid, to_string(outcome),
                                      detail, delay});
        } catch (const std::exception& e) {
            log(LogLevel::error, std::string{"supervisor: on_event threw: "} + e.what());
        } catch (...) {
            log(LogLevel::error, "supervisor: on_event threw");
        }
    }
}

void StatsBook::consumer_error() {
    metrics_.consumer_error();
    std::lock_guard lock{mutex_};
    ++stats_.consumer_errors;
}

void StatsBook::commit(bool ok) {
    metrics_.commit(ok);
    std::lock_guard lock{mutex_};
    ++(ok ? stats_.commits : stats_.commit_failures);
}

MetricsServer::Health StatsBook::health() const {
    std::lock_guard lock{mutex_};
    MetricsServer::Health h;
    h.alive = std::chrono::steady_clock::now() - last_step_ < std::chrono::seconds{30};
    h.ready = h.alive && consuming_ && !own_fault_;
    if (!h.alive) h.reason = "the supervisor's loop has not run for 30 s";
    else if (!consuming_) h.reason = "not consuming: the Kafka consumer's last poll failed (see the log)";
    else if (own_fault_) h.reason = "blocked: " + stats_.blocked_reason;
    return h;
}

void StatsBook::gauges(std::size_t in_flight, bool blocked, bool own_fault, const std::string& blocked_reason,
                       std::size_t paused, std::uint64_t dead_letter_rebuilds, bool consuming) {
    double last_upload_s = 0;
    {
        std::lock_guard lock{mutex_};
        if (stats_.last_upload)
            last_upload_s = std::chrono::duration<double>(stats_.last_upload->time_since_epoch()).count();
    }
    metrics_.gauges(in_flight, blocked, paused, last_upload_s);
    std::lock_guard lock{mutex_};
    last_step_ = std::chrono::steady_clock::now();
    consuming_ = consuming;
    own_fault_ = blocked && own_fault;
    stats_.in_flight = in_flight;
    stats_.blocked = blocked;
    stats_.blocked_reason = blocked ? blocked_reason : std::string{};
    stats_.paused_partitions = paused;
    stats_.dead_letter_rebuilds = dead_letter_rebuilds;
}

SupervisorStats StatsBook::snapshot() const {
    std::lock_guard lock{mutex_};
    SupervisorStats s = stats_;
    s.delays_s.assign(recent_delays_.begin(), recent_delays_.end());
    return s;
}

}  // namespace gracedb::supervisor_detail
