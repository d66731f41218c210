// The supervisor's polling thread: admits messages (decode.hpp), hands uploads to the worker pool and commits
// to the committer (pool.hpp), tracks what is done per partition (tracker.hpp), retries, dead-letters, follows
// rebalances and pauses fetching when its window is full. Everything here runs on the thread of run()/step()
// (or of the destructor, for the final drain).
#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/topics.hpp>
#include <gracedb/log.hpp>
#include <gracedb/signals.hpp>
#include <gracedb/supervisor.hpp>

#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "supervisor/decode.hpp"
#include "supervisor/pool.hpp"
#include "supervisor/tracker.hpp"

namespace gracedb {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace sd = supervisor_detail;
using sd::JobPtr;
using PartKey = std::pair<std::string, std::int32_t>;

enum class Outcome { uploaded, already_uploaded, skipped, dead, transient, dropped };

const char* name(Outcome o) {
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

// Only the settings that say how to reach and authenticate to the brokers carry over to the producer.
std::map<std::string, std::string> connection_settings(const std::map<std::string, std::string>& cfg) {
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : cfg)
        for (const char* prefix : {"security.", "ssl.", "sasl.", "socket.", "reconnect.", "broker.", "client."})
            if (k.rfind(prefix, 0) == 0) out[k] = v;
    return out;
}

// "topic[3]" (Consumer::assignment()) -> {"topic", 3}. Topic names cannot contain '['.
std::optional<PartKey> parse_partition(const std::string& s) {
    const auto open = s.rfind('[');
    if (open == std::string::npos || s.empty() || s.back() != ']') return std::nullopt;
    try {
        return PartKey{s.substr(0, open), std::stoi(s.substr(open + 1, s.size() - open - 2))};
    } catch (...) {
        return std::nullopt;
    }
}

std::string where(const std::string& topic, std::int32_t partition) { return topic + "[" + std::to_string(partition) + "]"; }

constexpr std::size_t kDeadLetterTruncation = 64 * 1024;

}  // namespace

struct GRACEDB_SUPERVISOR_NO_EXPORT Supervisor::Impl {
    SupervisorOptions options;
    std::string instance;
    std::string dead_letter;
    std::string rest_url;
    std::unique_ptr<kafka::Consumer> consumer;
    std::atomic<bool> stopping{false};

    // Poll-thread state.
    std::map<PartKey, sd::PartitionTracker> trackers;
    std::uint64_t next_epoch = 1;
    std::vector<JobPtr> waiting;  // retries not yet due
    std::set<PartKey> assigned;
    std::set<PartKey> paused;  // partitions this supervisor paused (window full)
    bool want_paused = false;
    Clock::time_point next_commit = Clock::now();
    bool commit_overdue_reported = false;
    Clock::time_point consumer_retry_at{};
    std::chrono::milliseconds consumer_backoff{0};
    bool drained = false;
    std::minstd_rand jitter{std::random_device{}()};

    // Dead letters: delivery reports land here (on this thread, from the producer's poll).
    std::vector<std::pair<JobPtr, std::optional<std::string>>> dlq_reports;
    std::size_t dlq_in_flight = 0;

    mutable std::mutex stats_mutex;
    SupervisorStats stats;
    std::deque<double> recent_delays;

    // Declared last: destroyed first (their threads use the members above).
    std::unique_ptr<kafka::Producer> dlq;
    std::unique_ptr<sd::UploadPool> pool;
    std::unique_ptr<sd::Committer> committer;

    explicit Impl(SupervisorOptions o) : options{std::move(o)} {
        auto& c = options.consumer;
        c.topics.clear();
        if (!c.group_id) {
            const auto inst = c.instance_name ? *c.instance_name
                                              : c.service_url ? kafka::derive_instance_name(*c.service_url)
                                                              : std::string{};
            c.group_id = "gracedb-supervisor-" + inst;
        }
        c.auto_offset_reset = "earliest";
        c.kafka_config["enable.auto.commit"] = "false";
        if (options.service_url.empty()) throw std::invalid_argument("the supervisor needs the GraceDB service_url");
        if (options.max_in_flight == 0) throw std::invalid_argument("SupervisorOptions::max_in_flight must be at least 1");
        if (options.max_in_flight > 1024)
            throw std::invalid_argument("SupervisorOptions::max_in_flight is " + std::to_string(options.max_in_flight) +
                                        ": at most 1024 (one thread and one GraceDB connection each)");
        options.rest.max_retries = 0;  // retried here, per event, without holding a worker
        auto first = std::make_unique<GraceDb>(options.service_url, options.rest);
        rest_url = first->service_url();
        consumer = std::make_unique<kafka::Consumer>(c);
        instance = consumer->instance_name();
        dead_letter = kafka::make_topic_name(options.dead_letter_prefix, instance);
        kafka::ProducerOptions p{.bootstrap_servers = c.bootstrap_servers,
                                 .topic = instance,
                                 .instance_name = options.dead_letter_prefix,
                                 .use_ssl = c.use_ssl,
                                 .ca_cert_path = c.ca_cert_path,
                                 .skip_hostname_verification = c.skip_hostname_verification,
                                 .token_audience = c.token_audience,
                                 .reload_cred = c.reload_cred,
                                 .reload_buffer = c.reload_buffer,
                                 .kafka_config = connection_settings(c.kafka_config)};
        dlq = std::make_unique<kafka::Producer>(std::move(p));
        consumer->subscribe_all();
        pool = std::make_unique<sd::UploadPool>(options.max_in_flight, std::move(first), options.service_url, options.rest);
        committer = std::make_unique<sd::Committer>(*consumer);
        log(LogLevel::info, "supervisor: consuming every topic of instance \"" + instance + "\" as group \"" +
                                *c.group_id + "\", uploading to " + rest_url + " (" +
                                std::to_string(options.max_in_flight) + " at once), dead letters to " + dead_letter);
    }

    ~Impl() {
        try {
            drain();
        } catch (...) {
        }
        pool->stop();
        committer->stop();
    }

    // --- reporting -------------------------------------------------------------------------------------------

    void report(const sd::Job& job, Outcome outcome, const std::string& detail) {
        std::optional<std::chrono::duration<double>> delay;
        if (job.producer_timestamp) {
            const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
            delay = std::chrono::duration<double>(now - *job.producer_timestamp);
        }
        {
            std::lock_guard lock{stats_mutex};
            switch (outcome) {
                case Outcome::uploaded:
                    ++stats.uploaded;
                    if (delay) {
                        stats.delays.add(delay->count());
                        recent_delays.push_back(delay->count());
                        if (recent_delays.size() > SupervisorStats::kRecentDelays) recent_delays.pop_front();
                    }
                    break;
                case Outcome::already_uploaded: ++stats.already_uploaded; break;
                case Outcome::skipped: ++stats.skipped; break;
                case Outcome::dead: ++stats.dead_lettered; break;
                case Outcome::transient: ++stats.retries; break;
                case Outcome::dropped: ++stats.dropped; break;
            }
        }
        const auto level = outcome == Outcome::dead ? LogLevel::warning : LogLevel::info;
        if (level >= log_level())
            log(level, "supervisor: " + where(job.topic, job.partition) + "@" + std::to_string(job.offset) + " " +
                           job.graceid.value_or("-") + " " + name(outcome) + " (" + detail + ")" +
                           (delay ? ", delay " + std::to_string(delay->count()) + " s" : ""));
        if (options.on_event) {
            try {
                options.on_event(SupervisorEvent{job.topic, job.partition, job.offset, job.graceid, name(outcome), detail, delay});
            } catch (const std::exception& e) {
                log(LogLevel::error, std::string{"supervisor: on_event threw: "} + e.what());
            } catch (...) {
                log(LogLevel::error, "supervisor: on_event threw");
            }
        }
    }

    // The tracker that admitted `job`, if its partition is still ours in the same incarnation.
    sd::PartitionTracker* tracker_of(const sd::Job& job) {
        auto it = trackers.find({job.topic, job.partition});
        return it != trackers.end() && it->second.epoch() == job.epoch ? &it->second : nullptr;
    }

    void done(const sd::Job& job) {
        if (auto* t = tracker_of(job)) t->done(job.offset);
    }

    // A failed attempt: try again after the job's back-off, unless its partition is gone or we are stopping.
    void retry_later(const JobPtr& job, const std::string& detail) {
        report(*job, Outcome::transient, detail);
        if (stopping.load() || !tracker_of(*job)) return;  // left uncommitted / for the new owner
        job->backoff = job->backoff.count() == 0 ? options.initial_backoff : std::min(job->backoff * 2, options.max_backoff);
        const double factor = std::uniform_real_distribution<double>{0.8, 1.2}(jitter);
        job->due = Clock::now() + std::chrono::duration_cast<Clock::duration>(job->backoff * factor);
        waiting.push_back(job);
    }

    // --- dead letters ----------------------------------------------------------------------------------------

    void send_dead_letter(const JobPtr& job) {
        kafka::ProduceOptions po{.key = job->key,
                                 .headers = {{"dlq.reason", job->dead_reason},
                                             {"dlq.topic", job->topic},
                                             {"dlq.partition", std::to_string(job->partition)},
                                             {"dlq.offset", std::to_string(job->offset)}}};
        std::string_view value = job->value;
        if (job->truncate_dead_letter && value.size() > kDeadLetterTruncation) {
            po.headers.emplace_back("dlq.value_truncated_from", std::to_string(value.size()));
            value = value.substr(0, kDeadLetterTruncation);
        }
        po.on_delivery = [this, job](const kafka::DeliveryReport& r) noexcept {
            try {
                dlq_reports.emplace_back(job, r.error);
            } catch (...) {
            }
        };
        try {
            dlq->produce(value, std::move(po));
            ++dlq_in_flight;
        } catch (const std::exception& e) {
            dead_letter_failed(job, e.what());
        }
    }

    void dead_letter_failed(const JobPtr& job, const std::string& error) {
        if (!job->truncate_dead_letter && error.find("too large") != std::string::npos) {
            job->truncate_dead_letter = true;  // the copy does not fit: send its beginning, and say so
            send_dead_letter(job);
            return;
        }
        log(LogLevel::error, "supervisor: dead-letter delivery failed: " + error);
        retry_later(job, "dead-letter topic unreachable (" + job->dead_reason + ")");
    }

    void serve_dead_letters() {
        if (dlq_in_flight == 0 && dlq_reports.empty()) return;
        try {
            dlq->poll(0ms);
        } catch (const std::exception& e) {
            log(LogLevel::warning, std::string{"supervisor: dead-letter producer: "} + e.what());
        }
        auto reports = std::exchange(dlq_reports, {});
        for (auto& [job, error] : reports) {
            if (dlq_in_flight) --dlq_in_flight;
            if (error) {
                dead_letter_failed(job, *error);
                continue;
            }
            report(*job, Outcome::dead, job->dead_reason);
            done(*job);
        }
    }

    // --- uploads ---------------------------------------------------------------------------------------------

    void handle_results() {
        using K = sd::AttemptResult::Kind;
        for (auto& [job, result] : pool->take_results()) {
            switch (result.kind) {
                case K::uploaded:
                case K::already_uploaded:
                    report(*job, result.kind == K::uploaded ? Outcome::uploaded : Outcome::already_uploaded, result.detail);
                    done(*job);
                    break;
                case K::transient: retry_later(job, result.detail); break;
                case K::dead:
                    job->dead_reason = result.detail;
                    if (tracker_of(*job)) {
                        send_dead_letter(job);
                    } else {
                        report(*job, Outcome::dropped, result.detail + "; partition revoked, left to its new owner");
                    }
                    break;
            }
        }
    }

    void start(const JobPtr& job) {
        if (!job->dead_reason.empty()) send_dead_letter(job);
        else pool->submit(job);
    }

    void start_due_retries() {
        if (waiting.empty()) return;
        const auto now = Clock::now();
        std::vector<JobPtr> due;
        std::erase_if(waiting, [&](const JobPtr& j) {
            if (j->due > now) return false;
            due.push_back(j);
            return true;
        });
        for (const auto& j : due) start(j);
    }

    // --- admission -------------------------------------------------------------------------------------------

    void admit(kafka::Message m) {
        const PartKey key{m.topic, m.partition};
        auto job = std::make_shared<sd::Job>();
        job->topic = std::move(m.topic);
        job->partition = m.partition;
        job->offset = m.offset;
        job->key = std::move(m.key);
        auto d = sd::decode_message(m.value);
        job->value = std::move(m.value);
        job->graceid = std::move(d.graceid);
        job->producer_timestamp = d.producer_timestamp;
        const bool skip = d.kind == sd::Decoded::Kind::skip;
        auto it = trackers.find(key);
        if (it == trackers.end()) it = trackers.emplace(key, sd::PartitionTracker{next_epoch++}).first;
        if (!it->second.admit(job->offset, skip)) {
            // Delivered again from an earlier offset (the partition was revoked and assigned back, or seeked):
            // start over; work of the old incarnation is no longer counted.
            log(LogLevel::info, "supervisor: " + where(key.first, key.second) + " restarts at offset " +
                                    std::to_string(job->offset) + "; its earlier state is dropped");
            drop_waiting(key);
            it->second = sd::PartitionTracker{next_epoch++};
            it->second.admit(job->offset, skip);
        }
        job->epoch = it->second.epoch();
        if (want_paused && !paused.count(key)) pause_one(key);
        switch (d.kind) {
            case sd::Decoded::Kind::skip: report(*job, Outcome::skipped, d.reason); break;
            case sd::Decoded::Kind::dead:
                job->dead_reason = d.reason;
                send_dead_letter(job);
                break;
            case sd::Decoded::Kind::upload:
                job->upload = std::move(d.upload);
                pool->submit(job);
                break;
        }
    }

    // --- partitions: rebalances and flow control -------------------------------------------------------------

    void drop_waiting(const PartKey& key) {
        std::erase_if(waiting, [&](const JobPtr& j) {
            if (j->topic != key.first || j->partition != key.second) return false;
            report(*j, Outcome::dropped, "partition revoked; left to its new owner");
            return true;
        });
    }

    void sync_assignment() {
        std::set<PartKey> now;
        for (const auto& s : consumer->assignment())
            if (auto k = parse_partition(s)) now.insert(std::move(*k));
        if (now == assigned) return;
        for (auto it = trackers.begin(); it != trackers.end();) {
            if (now.count(it->first)) {
                ++it;
                continue;
            }
            log(LogLevel::info, "supervisor: " + where(it->first.first, it->first.second) + " revoked with " +
                                    std::to_string(it->second.pending()) + " message(s) not done: state dropped");
            drop_waiting(it->first);
            it = trackers.erase(it);
        }
        std::erase_if(paused, [&](const PartKey& k) { return !now.count(k); });
        assigned = std::move(now);
    }

    std::size_t in_flight() const {
        std::size_t n = 0;
        for (const auto& [k, t] : trackers) n += t.pending();
        return n;
    }

    void pause_one(const PartKey& k) {
        try {
            consumer->pause(k.first, k.second);
            paused.insert(k);
        } catch (const kafka::KafkaError& e) {
            consumer_error(e, "pause");
        }
    }

    // Messages held (taken, not done): the uploads running and a queue for the next free workers, deep enough to
    // keep them busy across the pause that follows a resume (librdkafka refetches paused partitions, measured
    // a few hundred ms on the mock cluster). Fetching pauses at the limit and resumes at half of it.
    std::size_t hold_limit() const { return 4 * options.max_in_flight + 64; }

    void flow_control(std::size_t pending) {
        if (!want_paused && pending >= hold_limit()) want_paused = true;
        else if (want_paused && pending <= hold_limit() / 2) want_paused = false;
        if (want_paused) {
            for (const auto& k : assigned)
                if (!paused.count(k)) pause_one(k);
        } else {
            for (auto it = paused.begin(); it != paused.end();) {
                try {
                    consumer->resume(it->first, it->second);
                    it = paused.erase(it);
                } catch (const kafka::KafkaError& e) {
                    consumer_error(e, "resume");
                    ++it;
                }
            }
        }
    }

    void consumer_error(const kafka::KafkaError& e, const char* call) {
        if (e.fatal()) throw;
        {
            std::lock_guard lock{stats_mutex};
            ++stats.consumer_errors;
        }
        consumer_backoff = std::clamp(consumer_backoff * 2, std::chrono::milliseconds{100}, std::chrono::milliseconds{5000});
        consumer_retry_at = Clock::now() + consumer_backoff;
        log(LogLevel::warning, std::string{"supervisor: Kafka consumer "} + call + " failed (going on in " +
                                   std::to_string(consumer_backoff.count()) + " ms): " + e.what());
    }

    // --- commits ---------------------------------------------------------------------------------------------

    void handle_commit_results() {
        for (auto& r : committer->take_results()) {
            auto it = trackers.find({r.topic, r.partition});
            auto* t = it != trackers.end() && it->second.epoch() == r.epoch ? &it->second : nullptr;
            if (r.error) {
                {
                    std::lock_guard lock{stats_mutex};
                    ++stats.commit_failures;
                }
                log(LogLevel::warning, "supervisor: commit of " + where(r.topic, r.partition) + " at " +
                                           std::to_string(r.offset) + " failed (tried again): " + *r.error);
                if (t) t->commit_failed(r.offset);
            } else if (!r.skipped) {
                std::lock_guard lock{stats_mutex};
                ++stats.commits;
                if (t) t->commit_confirmed(r.offset);
            }
        }
    }

    // Hands what moved since the last commit to the committer, every commit_interval (or now, with `force`).
    void schedule_commits(bool force) {
        if (committer->busy()) {
            const auto running = committer->running_for();
            if (running > options.commit_timeout && !commit_overdue_reported) {
                commit_overdue_reported = true;
                log(LogLevel::warning, "supervisor: a commit has been running for " +
                                           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(running).count()) +
                                           " s (group coordinator unreachable?); uploads go on, commits wait");
            }
            return;
        }
        commit_overdue_reported = false;
        const auto now = Clock::now();
        if (!force && now < next_commit) return;
        next_commit = now + options.commit_interval;
        std::vector<sd::CommitEntry> batch;
        for (auto& [k, t] : trackers) {
            if (!t.needs_commit() || !assigned.count(k)) continue;
            const auto point = *t.commit_point();
            t.committing(point);
            batch.push_back({k.first, k.second, t.epoch(), point});
        }
        if (!batch.empty()) committer->submit(std::move(batch));
    }

    bool commit_wanted() const {
        for (const auto& [k, t] : trackers)
            if (t.needs_commit()) return true;
        return false;
    }

    // --- the loop --------------------------------------------------------------------------------------------

    void publish_gauges() {
        const auto n = in_flight();
        std::lock_guard lock{stats_mutex};
        stats.in_flight = n;
    }

    void step() {
        handle_results();
        serve_dead_letters();
        start_due_retries();
        handle_commit_results();
        schedule_commits(false);
        const auto pending = in_flight();
        // How long this step may wait: less when work is in flight, so that results are handled promptly.
        auto wait = options.poll_timeout;
        if (pending > 0 || pool->outstanding() > 0) wait = std::min(wait, std::chrono::milliseconds{10});
        if (commit_wanted()) {
            const auto to_commit = std::chrono::duration_cast<std::chrono::milliseconds>(next_commit - Clock::now());
            wait = std::clamp(to_commit, 0ms, wait);
        }
        const auto now = Clock::now();
        if (now < consumer_retry_at) {  // backing off after a consumer error
            pool->wait_for_result(std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(consumer_retry_at - now)));
            publish_gauges();
            return;
        }
        try {
            flow_control(pending);
            if (want_paused) {  // window full: wait for a result, then only serve the consumer (rebalances)
                pool->wait_for_result(wait);
                wait = 0ms;
            }
            auto m = consumer->poll(wait);
            sync_assignment();
            consumer_backoff = 0ms;
            if (m) admit(std::move(*m));
        } catch (const kafka::KafkaError& e) {
            consumer_error(e, "poll");
        }
        publish_gauges();
    }

    // Stops taking messages, lets running uploads and dead letters finish (drain_timeout), commits what is
    // done (commit_timeout) and leaves the group. Retries not yet started stay uncommitted.
    void drain() {
        if (drained) return;
        drained = true;
        stopping.store(true);
        const auto deadline = Clock::now() + options.drain_timeout;
        while ((pool->outstanding() > 0 || dlq_in_flight > 0) && Clock::now() < deadline) {
            pool->wait_for_result(20ms);
            handle_results();
            serve_dead_letters();
            handle_commit_results();
        }
        const auto unfinished = pool->outstanding() + dlq_in_flight;
        committer->wait_idle(options.commit_timeout);
        handle_commit_results();
        schedule_commits(true);
        if (!committer->wait_idle(options.commit_timeout))
            log(LogLevel::warning, "supervisor: the last commit did not complete within " +
                                       std::to_string(options.commit_timeout.count()) + " ms");
        handle_commit_results();
        publish_gauges();
        log(LogLevel::info, "supervisor: stopping; " + std::to_string(in_flight()) + " message(s) not done (" +
                                std::to_string(waiting.size()) + " waiting for a retry, " + std::to_string(unfinished) +
                                " still running) stay uncommitted for the next supervisor");
        committer->stop();
        pool->stop();
        try {
            consumer->close();
        } catch (const std::exception& e) {
            log(LogLevel::warning, std::string{"supervisor: closing the consumer: "} + e.what());
        }
    }
};

Supervisor::Supervisor(SupervisorOptions options) : impl_{std::make_unique<Impl>(std::move(options))} {}
Supervisor::~Supervisor() = default;

void Supervisor::step() {
    if (impl_->drained) return;
    impl_->step();
}

void Supervisor::run() {
    std::optional<StopSignals> signals;
    if (impl_->options.handle_signals) signals.emplace();
    while (!impl_->stopping.load() && !(signals && StopSignals::received())) impl_->step();
    impl_->drain();
}

void Supervisor::stop() noexcept { impl_->stopping.store(true); }

SupervisorStats Supervisor::stats() const {
    std::lock_guard lock{impl_->stats_mutex};
    SupervisorStats s = impl_->stats;
    s.delays_s.assign(impl_->recent_delays.begin(), impl_->recent_delays.end());
    return s;
}

const std::string& Supervisor::dead_letter_topic() const { return impl_->dead_letter; }
const std::string& Supervisor::instance_name() const { return impl_->instance; }

}  // namespace gracedb
