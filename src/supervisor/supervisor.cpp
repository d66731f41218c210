// The supervisor's polling thread: a short loop over its parts. Messages are admitted (decode.hpp, with the
// topic binding the body), uploads run on the worker pool and commits on the committer (pool.hpp), what is held
// per partition and flow control live in partitions.hpp, whether uploads work at all in health.hpp, dead letters
// in dead_letters.hpp, figures in stats_book.hpp. Everything here runs on the thread of run()/step() (or of the
// destructor, for the final drain).
#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/topics.hpp>
#include <gracedb/log.hpp>
#include <gracedb/signals.hpp>
#include <gracedb/supervisor.hpp>

#include <algorithm>
#include <map>
#include <random>

#include "supervisor/dead_letters.hpp"
#include "supervisor/decode.hpp"
#include "supervisor/health.hpp"
#include "supervisor/heartbeat.hpp"
#include "supervisor/metrics.hpp"
#include "supervisor/partitions.hpp"
#include "supervisor/pool.hpp"
#include "supervisor/stats_book.hpp"

namespace gracedb {
namespace {

using namespace std::chrono_literals;
namespace sd = supervisor_detail;
using sd::Clock;
using sd::JobPtr;
using sd::Outcome;
using Kind = sd::AttemptResult::Kind;

// Only the settings that say how to reach and authenticate to the brokers carry over to the producer.
std::map<std::string, std::string> connection_settings(const std::map<std::string, std::string>& cfg) {
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : cfg)
        for (const char* prefix : {"security.", "ssl.", "sasl.", "socket.", "reconnect.", "broker.", "client."})
            if (k.rfind(prefix, 0) == 0) out[k] = v;
    return out;
}

// The consumer's settings: the whole instance, this supervisor's group, manual commits.
kafka::ConsumerOptions consumer_options(kafka::ConsumerOptions c) {
    c.topics.clear();
    if (!c.group_id) {
        const auto inst = c.instance_name ? *c.instance_name
                                          : c.service_url ? kafka::derive_instance_name(*c.service_url) : std::string{};
        c.group_id = "gracedb-supervisor-" + inst;
    }
    c.auto_offset_reset = "earliest";
    c.kafka_config["enable.auto.commit"] = "false";
    return c;
}

void check(const SupervisorOptions& o) {
    if (o.service_url.empty()) throw std::invalid_argument("the supervisor needs the GraceDB service_url");
    if (o.max_in_flight == 0) throw std::invalid_argument("SupervisorOptions::max_in_flight must be at least 1");
    if (o.max_in_flight > 1024)
        throw std::invalid_argument("SupervisorOptions::max_in_flight is " + std::to_string(o.max_in_flight) +
                                    ": at most 1024 (one thread and one GraceDB connection each)");
}

}  // namespace

struct GRACEDB_SUPERVISOR_NO_EXPORT Supervisor::Impl {
    SupervisorOptions options;
    std::string instance;
    std::string rest_url;
    std::unique_ptr<kafka::Consumer> consumer;
    std::atomic<bool> stopping{false};

    // Poll-thread state.
    std::unique_ptr<sd::Partitions> partitions;
    sd::Health health;
    std::vector<JobPtr> waiting;  // retries not yet due
    Clock::time_point next_commit = Clock::now();
    bool commit_overdue_reported = false;
    Clock::time_point consumer_retry_at{};
    std::chrono::milliseconds consumer_backoff{0};
    Clock::time_point blocked_reminder{};
    Clock::time_point next_lag_check{};
    bool consuming = false;  // the last poll succeeded
    bool drained = false;
    std::minstd_rand jitter{std::random_device{}()};
    sd::StatsBook stats;
    std::unique_ptr<sd::Heartbeat> heartbeat;  // none when heartbeat_interval is 0

    // Declared last: destroyed first (their threads use the members above).
    std::unique_ptr<sd::DeadLetters> dead_letters;
    std::unique_ptr<sd::UploadPool> pool;
    std::unique_ptr<sd::Committer> committer;
    std::unique_ptr<sd::MetricsServer> metrics_server;  // first destroyed: its threads read the stats

    explicit Impl(SupervisorOptions o) : options{std::move(o)}, stats{options.on_event} {
        check(options);
        auto c = consumer_options(options.consumer);
        options.rest.max_retries = 0;  // retried here, per event, without holding a worker
        auto first = std::make_unique<GraceDb>(options.service_url, options.rest);
        rest_url = first->service_url();
        consumer = std::make_unique<kafka::Consumer>(c);
        instance = consumer->instance_name();
        const auto dead_letter_topic = kafka::make_topic_name(options.dead_letter_prefix, instance);
        dead_letters = std::make_unique<sd::DeadLetters>(
            kafka::ProducerOptions{.bootstrap_servers = c.bootstrap_servers,
                                   .topic = instance,
                                   .instance_name = options.dead_letter_prefix,
                                   .use_ssl = c.use_ssl,
                                   .ca_cert_path = c.ca_cert_path,
                                   .skip_hostname_verification = c.skip_hostname_verification,
                                   .token_audience = c.token_audience,
                                   .reload_cred = c.reload_cred,
                                   .reload_buffer = c.reload_buffer,
                                   .kafka_config = connection_settings(c.kafka_config)},
            dead_letter_topic);
        partitions = std::make_unique<sd::Partitions>(
            *consumer, [this](const kafka::KafkaError& e, const char* call) { consumer_error(e, call); });
        consumer->subscribe_all();
        pool = std::make_unique<sd::UploadPool>(options.max_in_flight, std::move(first), options.service_url,
                                                options.rest);
        // A finished upload wakes the poll at once: its result (and the next retry or commit) is not held back
        // by the poll's timeout.
        pool->on_result([c = consumer.get()] { c->wakeup(); });
        committer = std::make_unique<sd::Committer>(*consumer);
        if (options.heartbeat_interval.count() > 0)
            heartbeat = sd::make_heartbeat(options.heartbeat_prefix, options.heartbeat_interval, instance,
                                           *c.group_id, dead_letters->producer_options());
        if (options.metrics_address) {
            metrics_server = std::make_unique<sd::MetricsServer>(*options.metrics_address, stats.metrics(),
                                                                 [this] { return stats.health(); });
            log(LogLevel::info, "supervisor: metrics, /healthz and /readyz on " + *options.metrics_address +
                                    " (port " + std::to_string(metrics_server->port()) + ")");
        }
        log(LogLevel::info, "supervisor: consuming every topic of instance \"" + instance + "\" as group \"" +
                                *c.group_id + "\", uploading to " + rest_url + " (" +
                                std::to_string(options.max_in_flight) + " at once), dead letters to " +
                                dead_letter_topic);
    }

    ~Impl() {
        try {
            drain();
        } catch (...) {
        }
        pool->stop();
        committer->stop();
    }

    // --- outcomes --------------------------------------------------------------------------------------------

    void done(const sd::Job& job) { partitions->done(job); }
    bool ours(const sd::Job& job) { return partitions->tracker(job.tp, job.epoch) != nullptr; }

    // A failed attempt: try again after the job's back-off, unless its partition is gone or we are stopping.
    void retry_later(const JobPtr& job, const std::string& detail) {
        stats.report(*job, Outcome::transient, detail);
        if (stopping.load() || !ours(*job)) return;  // left uncommitted / for the new owner
        job->backoff = job->backoff.count() == 0 ? options.initial_backoff
                                                 : std::min(job->backoff * 2, options.max_backoff);
        const double factor = std::uniform_real_distribution<double>{0.8, 1.2}(jitter);
        job->due = Clock::now() + std::chrono::duration_cast<Clock::duration>(job->backoff * factor);
        waiting.push_back(job);
    }

    void dead_letter(const JobPtr& job, const std::string& reason) {
        job->dead_reason = reason;
        if (ours(*job)) dead_letters->send(job);
        else stats.report(*job, Outcome::dropped, reason + "; partition revoked, left to its new owner");
    }

    void serve_dead_letters() {
        for (auto& [job, error] : dead_letters->serve()) {
            if (error) {
                log(LogLevel::error, "supervisor: " + *error);
                retry_later(job, *error + " (" + job->dead_reason + ")");
                continue;
            }
            stats.report(*job, Outcome::dead, job->dead_reason);
            done(*job);
        }
    }

    // The 404 rule: a 404 is the event's own fault (never reserved) only once it has lasted
    // never_reserved_after since the event's first 404 AND another upload succeeded after that first 404 (the
    // path works for others). A proxy or deploy answering 404 to everything never meets the second condition.
    bool never_reserved(sd::Job& job, Clock::time_point now) {
        if (!job.not_found_since) job.not_found_since = now;
        return now - *job.not_found_since >= options.never_reserved_after &&
               health.last_success() > *job.not_found_since;
    }

    void handle_results() {
        const auto now = Clock::now();
        for (auto& [job, result] : pool->take_results()) {
            ++job->attempts;
            stats.upload_duration(result.took.count());
            switch (result.kind) {
                case Kind::uploaded:
                case Kind::already_uploaded:
                    if (health.succeeded(now))
                        log(LogLevel::warning, "supervisor: uploads succeed again: fetching resumes");
                    stats.report(*job, result.kind == Kind::uploaded ? Outcome::uploaded : Outcome::already_uploaded,
                                 result.detail, result.finished);
                    done(*job);
                    break;
                case Kind::dead: dead_letter(job, result.detail); break;
                case Kind::unknown_name:
                    if (!job->name_refused_since) job->name_refused_since = now;
                    if (now - *job->name_refused_since >= sd::kNameRecheck) {
                        dead_letter(job, result.detail);
                        break;
                    }
                    retry_later(job, result.detail + " (judged again on a fresh API root)");
                    break;
                case Kind::not_found:
                    if (never_reserved(*job, now)) {
                        dead_letter(job, result.detail + " for " +
                                             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                                now - *job->not_found_since)
                                                                .count()) +
                                             " s while other uploads succeeded: never reserved");
                        break;
                    }
                    retry_later(job, result.detail);
                    break;
                case Kind::transient:
                case Kind::refused:
                    if (health.failed(result.kind, result.detail, now, job.get())) {
                        blocked_reminder = now + 60s;
                        log(LogLevel::error, "supervisor: BLOCKED, fetching stopped: " + health.reason() +
                                                 ". Nothing is dead-lettered or committed past; the " +
                                                 std::to_string(partitions->pending()) +
                                                 " message(s) held are retried, and fetching resumes by itself "
                                                 "once an upload succeeds");
                    }
                    retry_later(job, result.detail);
                    break;
            }
        }
        if (health.blocked() && now >= blocked_reminder) {
            blocked_reminder = now + 60s;
            log(LogLevel::error, "supervisor: still BLOCKED for " +
                                     std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                        now - health.blocked_since())
                                                        .count()) +
                                     " s: " + health.reason());
        }
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
        for (const auto& j : due) {
            if (!j->dead_reason.empty()) dead_letters->send(j);
            else pool->submit(j);
        }
    }

    // --- admission -------------------------------------------------------------------------------------------

    void admit(kafka::Message m) {
        auto job = std::make_shared<sd::Job>();
        job->tp = {std::move(m.topic), m.partition};
        job->offset = m.offset;
        job->key = std::move(m.key);
        job->headers = std::move(m.headers);
        job->timestamp = m.timestamp;
        auto d = sd::decode_message(m.value);
        job->value = std::move(m.value);
        job->graceid = std::move(d.graceid);
        job->producer_timestamp = d.producer_timestamp;
        if (d.kind == sd::Decoded::Kind::upload)
            if (auto problem = sd::binding_problem(*d.upload, job->tp.topic, job->key, instance)) {
                d.kind = sd::Decoded::Kind::dead;
                d.reason = *problem;
            }
        const bool skip = d.kind == sd::Decoded::Kind::skip;
        bool duplicate = false;
        job->epoch = partitions->admit(job->tp, job->offset, skip, duplicate);
        if (duplicate) return;  // delivered again while held or done (Partitions::admit)
        switch (d.kind) {
            case sd::Decoded::Kind::skip: stats.report(*job, Outcome::skipped, d.reason); break;
            case sd::Decoded::Kind::dead: dead_letter(job, d.reason); break;
            case sd::Decoded::Kind::upload:
                job->upload = std::move(d.upload);
                pool->submit(job);
                break;
        }
    }

    void drop_waiting(const kafka::TopicPartition& tp) {
        std::erase_if(waiting, [&](const JobPtr& j) {
            if (j->tp != tp) return false;
            stats.report(*j, Outcome::dropped, "partition revoked; left to its new owner");
            return true;
        });
    }

    // --- flow control and the consumer -----------------------------------------------------------------------

    // Messages held (taken, not done): the uploads running and a queue for the next free workers, deep enough to
    // keep them busy across the pause that follows a resume. Fetching pauses at the limit and resumes at half of
    // it, and stays paused while blocked.
    std::size_t hold_limit() const { return 4 * options.max_in_flight + 64; }
    bool window_full = false;

    // 404s waiting for their verdict (the 404 rule) do not fill the window, up to kNotFoundAllowance x the
    // limit: messages anyone may write (never-reserved graceids on the open test topic) must not stop the
    // supervisor, and the other uploads succeeding meanwhile are what lets them be judged.
    static constexpr std::size_t kNotFoundAllowance = 4;

    void flow_control(std::size_t pending) {
        std::size_t judged_later = 0;
        for (const auto& j : waiting) judged_later += j->not_found_since ? 1 : 0;
        pending -= std::min({judged_later, pending, kNotFoundAllowance * hold_limit()});
        if (!window_full && pending >= hold_limit()) window_full = true;
        else if (window_full && pending <= hold_limit() / 2) window_full = false;
        // Blocked with nothing held (a rebalance took what it held): fetch again, so that a message can show
        // whether uploads work again.
        const bool want = window_full || (health.blocked() && pending > 0);
        // Again when a resume failed (a partition still paused though none is wanted).
        if (want != partitions->paused() || (!want && partitions->paused_count() > 0)) partitions->want_paused(want);
    }

    void consumer_error(const kafka::KafkaError& e, const char* call) {
        if (e.fatal()) throw;  // always called from a catch block: the fatal error itself goes up
        stats.consumer_error();
        consumer_backoff = std::clamp(consumer_backoff * 2, 100ms, 5000ms);
        consumer_retry_at = Clock::now() + consumer_backoff;
        log(LogLevel::warning, std::string{"supervisor: Kafka consumer "} + call + " failed (going on in " +
                                   std::to_string(consumer_backoff.count()) + " ms): " + e.what());
    }

    // --- commits ---------------------------------------------------------------------------------------------

    void handle_commit_results() {
        for (auto& r : committer->take_results()) {
            const bool ok = partitions->commit_result(r);
            if (!ok)
                log(LogLevel::warning, "supervisor: commit of " + r.tp.to_string() + " at " + std::to_string(r.offset) +
                                           " failed (tried again): " + *r.error);
            if (!r.skipped) stats.commit(ok);
        }
    }

    // Hands what moved since the last commit to the committer, every commit_interval (or now, with `force`).
    void schedule_commits(bool force) {
        if (committer->busy()) {
            const auto running = committer->running_for();
            if (running > options.commit_timeout && !commit_overdue_reported) {
                commit_overdue_reported = true;
                log(LogLevel::warning,
                    "supervisor: a commit has been running for " +
                        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(running).count()) +
                        " s (group coordinator unreachable?); uploads go on, commits wait");
            }
            return;
        }
        commit_overdue_reported = false;
        const auto now = Clock::now();
        if (!force && now < next_commit) return;
        next_commit = now + options.commit_interval;
        auto batch = partitions->commit_batch();
        if (!batch.empty()) committer->submit(std::move(batch));
    }

    // --- the loop --------------------------------------------------------------------------------------------

    void publish_gauges() {
        stats.gauges(partitions->pending(), health.blocked(), health.own_fault(), health.reason(),
                     partitions->paused_count(), dead_letters->rebuilds(), consuming);
        const auto now = Clock::now();
        if (now < next_lag_check) return;
        next_lag_check = now + 1s;
        std::map<kafka::TopicPartition, std::int64_t> lags;
        for (const auto& tp : partitions->owned())
            if (auto lag = consumer->lag(tp)) lags[tp] = *lag;
        stats.metrics().lags(lags);
    }

    void step() {
        handle_results();
        publish_gauges();
        serve_dead_letters();
        start_due_retries();
        handle_commit_results();
        schedule_commits(false);
        const auto pending = partitions->pending();
        // How long this step may wait: a finished upload wakes the poll (UploadPool::on_result); retries and
        // commits that fall due do not, so the wait ends at the next of them.
        auto wait = options.poll_timeout;
        const auto now = Clock::now();
        auto until = [&](Clock::time_point t) {
            wait = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(t - now) + 1ms, 0ms, wait);
        };
        for (const auto& j : waiting) until(j->due);
        if (partitions->commit_wanted()) until(next_commit);
        if (dead_letters->in_flight() > 0) wait = std::min(wait, 10ms);  // their reports come from polling it
        if (now < consumer_retry_at) {  // backing off after a consumer error
            until(consumer_retry_at);
            pool->wait_for_result(wait);
            publish_gauges();
            return;
        }
        try {
            flow_control(pending);
            auto m = consumer->poll(wait);  // a paused consumer still serves rebalances here
            for (const auto& tp : partitions->sync()) drop_waiting(tp);
            consumer_backoff = 0ms;
            consuming = true;
            if (m) admit(std::move(*m));
        } catch (const kafka::KafkaError& e) {
            consuming = false;
            consumer_error(e, "poll");
        }
        publish_gauges();
        if (heartbeat && heartbeat->due()) heartbeat->publish(stats.snapshot());
    }

    // Stops taking messages, lets running uploads and dead letters finish (drain_timeout), commits what is
    // done (commit_timeout) and leaves the group. Retries not yet started stay uncommitted.
    void drain() {
        if (drained) return;
        drained = true;
        stopping.store(true);
        const auto deadline = Clock::now() + options.drain_timeout;
        while ((pool->outstanding() > 0 || dead_letters->in_flight() > 0) && Clock::now() < deadline) {
            pool->wait_for_result(20ms);
            handle_results();
            serve_dead_letters();
            handle_commit_results();
        }
        const auto unfinished = pool->outstanding() + dead_letters->in_flight();
        committer->wait_idle(options.commit_timeout);
        handle_commit_results();
        schedule_commits(true);
        if (!committer->wait_idle(options.commit_timeout))
            log(LogLevel::warning, "supervisor: the last commit did not complete within " +
                                       std::to_string(options.commit_timeout.count()) + " ms");
        handle_commit_results();
        publish_gauges();
        log(LogLevel::info, "supervisor: stopping; " + std::to_string(partitions->pending()) +
                                " message(s) not done (" + std::to_string(waiting.size()) +
                                " waiting for a retry, " + std::to_string(unfinished) +
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

void Supervisor::stop() noexcept {
    impl_->stopping.store(true);
    impl_->consumer->wakeup();
}

SupervisorStats Supervisor::stats() const { return impl_->stats.snapshot(); }

std::optional<int> Supervisor::metrics_port() const {
    if (!impl_->metrics_server) return std::nullopt;
    return impl_->metrics_server->port();
}

const std::string& Supervisor::dead_letter_topic() const { return impl_->dead_letters->topic(); }
const std::string& Supervisor::instance_name() const { return impl_->instance; }

}  // namespace gracedb
