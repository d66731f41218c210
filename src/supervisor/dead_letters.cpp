#include "supervisor/dead_letters.hpp"

#include <gracedb/kafka/errors.hpp>
#include <gracedb/log.hpp>

namespace gracedb::supervisor_detail {

using namespace std::chrono_literals;

DeadLetters::DeadLetters(kafka::ProducerOptions options, std::string topic)
    : options_{std::move(options)}, producer_{std::make_unique<kafka::Producer>(options_)}, topic_{std::move(topic)} {}

// The producer first: closing it serves its last delivery reports, whose callbacks use the members below.
DeadLetters::~DeadLetters() {
    try {
        producer_.reset();
    } catch (...) {
    }
}

void DeadLetters::send(const JobPtr& job) {
    if (!producer_ || rebuild_due_) {
        outcomes_.push_back({job, "the dead-letter producer is being rebuilt after a fatal error"});
        return;
    }
    // Level 0: the whole original. 1: the value's beginning, the key's beginning, the original's headers only
    // if they are small. 2: a stub of our headers alone. The original itself stays at dlq.topic/partition/offset.
    const int level = job->truncate_dead_letter;
    kafka::ProduceOptions po;
    if (level < 2) {
        po.key = job->key;
        if (level == 1 && po.key && po.key->size() > kTruncatedKey) {
            po.headers.emplace_back("dlq.key_truncated_from", std::to_string(po.key->size()));
            po.key = po.key->substr(0, kTruncatedKey);
        }
        std::size_t header_bytes = 0;
        for (const auto& [name, value] : job->headers) header_bytes += name.size() + (value ? value->size() : 0);
        if (level == 0 || header_bytes <= kTruncatedSize) {
            // The original's headers, but never under our own names: a message that brought its own "dlq.topic"
            // must not decide where a replay goes. A null header value cannot be produced: left out.
            for (const auto& [name, value] : job->headers)
                if (value) po.headers.emplace_back(name.starts_with("dlq.") ? "original." + name : name, *value);
        } else {
            po.headers.emplace_back("dlq.headers_dropped", std::to_string(job->headers.size()));
        }
    }
    po.headers.insert(po.headers.end(), {{"dlq.reason", job->dead_reason},
                                         {"dlq.topic", job->tp.topic},
                                         {"dlq.partition", std::to_string(job->tp.partition)},
                                         {"dlq.offset", std::to_string(job->offset)}});
    if (job->timestamp)
        po.headers.emplace_back("dlq.timestamp_ms",
                                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                   job->timestamp->time_since_epoch())
                                                   .count()));
    if (job->graceid) po.headers.emplace_back("dlq.graceid", job->graceid->substr(0, 256));
    std::string_view value = job->value;
    if (level > 0 && value.size() > (level == 1 ? kTruncatedSize : 0)) {
        po.headers.emplace_back("dlq.value_truncated_from", std::to_string(value.size()));
        value = value.substr(0, level == 1 ? kTruncatedSize : 0);
    }
    const auto id = next_id_++;
    po.on_delivery = [this, id](const kafka::DeliveryReport& r) noexcept {
        try {
            auto it = in_flight_.find(id);
            if (it == in_flight_.end()) return;
            auto copied = std::move(it->second);
            in_flight_.erase(it);
            if (!r.error) {
                outcomes_.push_back({std::move(copied), std::nullopt});
                return;
            }
            const gracedb::Error e{*r.error, r.error_code, r.rdkafka_error};
            failed(copied, &e, *r.error);
        } catch (...) {
        }
    };
    in_flight_.emplace(id, job);
    try {
        producer_->produce(value, std::move(po));
    } catch (const gracedb::Error& e) {
        in_flight_.erase(id);
        if (e.fatal()) rebuild_due_ = true;
        failed(job, &e, e.what());
    } catch (const std::exception& e) {
        in_flight_.erase(id);
        failed(job, nullptr, e.what());
    }
}

// A copy that does not fit is sent again as its beginning (by the error's code, never its text); any other
// failure goes back to the supervisor, which retries the job later.
void DeadLetters::failed(const JobPtr& job, const gracedb::Error* error, const std::string& text) {
    if (error && error->code() == Errc::message_too_large && job->truncate_dead_letter < 2) {
        ++job->truncate_dead_letter;
        send(job);
        return;
    }
    outcomes_.push_back({job, "dead-letter copy not delivered: " + text});
}

std::vector<DeadLetters::Outcome> DeadLetters::serve() {
    if (producer_ && !in_flight_.empty()) {
        try {
            producer_->poll(0ms);
        } catch (const gracedb::Error& e) {
            log(LogLevel::warning, std::string{"supervisor: dead-letter producer: "} + e.what());
            if (e.fatal()) rebuild_due_ = true;
        } catch (const std::exception& e) {
            log(LogLevel::warning, std::string{"supervisor: dead-letter producer: "} + e.what());
        }
    }
    if ((rebuild_due_ || !producer_) && next_rebuild_.expired()) rebuild("a fatal error");
    return std::exchange(outcomes_, {});
}

void DeadLetters::rebuild(const std::string& why) {
    rebuild_due_ = false;
    next_rebuild_ = detail::Deadline::after(1s);
    log(LogLevel::error, "supervisor: the dead-letter producer met a fatal error (" + why +
                             "); building a new one, the copies it held are sent again");
    try {
        producer_.reset();  // its close reports what it held; whatever it did not report is failed below
    } catch (...) {
    }
    for (auto& [id, job] : std::exchange(in_flight_, {}))
        outcomes_.push_back({job, "dead-letter producer rebuilt after a fatal error"});
    try {
        producer_ = std::make_unique<kafka::Producer>(options_);
        ++rebuilds_;
    } catch (const std::exception& e) {
        log(LogLevel::error, std::string{"supervisor: the dead-letter producer cannot be rebuilt: "} + e.what());
    }
}

}  // namespace gracedb::supervisor_detail
