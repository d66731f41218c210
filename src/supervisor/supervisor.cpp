// The supervisor's polling thread: a short loop over its parts (impl.hpp): admission, uploads (pool), their
// outcomes, retries, partitions and flow control, commits, dead letters, figures (stats_book); and its
// construction from the options (setup.hpp).
#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/topics.hpp>
#include <gracedb/log.hpp>
#include <gracedb/signals.hpp>

#include <algorithm>
#include <map>

#include "supervisor/impl.hpp"
#include "supervisor/setup.hpp"

namespace gracedb {

using namespace std::chrono_literals;
namespace sd = supervisor_detail;
using detail::Deadline;

Supervisor::Impl::Impl(SupervisorOptions o)
    : options{std::move(o)},
      retries{options.initial_backoff, options.max_backoff},
      flow{options.max_in_flight},
      stats{options.on_event} {
    sd::check_options(options);
    auto c = sd::consumer_options(options.consumer);
    options.rest.max_retries = 0;  // retried here, per event, without holding a worker
    auto first = std::make_unique<GraceDb>(options.service_url, options.rest);
    rest_url = first->service_url();
    consumer = std::make_unique<kafka::Consumer>(c);
    instance = consumer->instance_name();
    const auto dead_letter_topic = kafka::make_topic_name(options.dead_letter_prefix, instance);
    auto producer = sd::producer_options_from(c);
    producer.topic = instance;
    producer.instance_name = options.dead_letter_prefix;
    dead_letters = std::make_unique<sd::DeadLetters>(std::move(producer), dead_letter_topic);
    partitions = std::make_unique<sd::Partitions>(
        *consumer, [this](const kafka::KafkaError& e, const char* call) { consumer_error(e, call); });
    consumer->subscribe_all();
    pool = std::make_unique<sd::UploadPool>(options.max_in_flight, std::move(first), options.service_url,
                                            options.rest);
    // A finished upload wakes the poll at once: its result (and the next retry or commit) is not held back by
    // the poll's timeout.
    pool->on_result([c = consumer.get()] { c->wakeup(); });
    commits = std::make_unique<sd::Commits>(*consumer, *partitions, stats, options.commit_interval,
                                            options.commit_timeout);
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

void Supervisor::Impl::consumer_error(const kafka::KafkaError& e, const char* call) {
    if (e.fatal()) throw;  // always called from a catch block: the fatal error itself goes up
    stats.consumer_error();
    consumer_backoff = std::clamp(consumer_backoff * 2, 100ms, 5000ms);
    consumer_retry = Deadline::after(consumer_backoff);
    log(LogLevel::warning, std::string{"supervisor: Kafka consumer "} + call + " failed (going on in " +
                               std::to_string(consumer_backoff.count()) + " ms): " + e.what());
}

void Supervisor::Impl::publish_gauges() {
    stats.gauges(partitions->pending(), health.blocked(), health.own_fault(), health.reason(),
                 partitions->paused_count(), dead_letters->rebuilds(), consuming);
    if (!next_lag_check.expired()) return;
    next_lag_check = Deadline::after(1s);
    std::map<kafka::TopicPartition, std::int64_t> lags;
    for (const auto& tp : partitions->owned())
        if (auto lag = consumer->lag(tp)) lags[tp] = *lag;
    stats.metrics().lags(lags);
}

void Supervisor::Impl::step() {
    handle_results();
    publish_gauges();
    serve_dead_letters();
    start_due_retries();
    commits->collect();
    commits->schedule(false);
    const auto pending = partitions->pending();
    // How long this step may wait: a finished upload wakes the poll (UploadPool::on_result); retries and
    // commits that fall due do not, so the wait ends at the next of them (rounded up to the millisecond).
    auto wait = options.poll_timeout;
    auto until = [&](const Deadline& d) {
        const auto left = d.left();
        wait = std::min(wait, left > 0ms ? left + 1ms : 0ms);
    };
    if (auto due = retries.next_due()) until(Deadline::at(*due));
    if (partitions->commit_wanted()) until(commits->next());
    if (dead_letters->in_flight() > 0) wait = std::min(wait, 10ms);  // their reports come from polling it
    if (!consumer_retry.expired()) {  // backing off after a consumer error
        until(consumer_retry);
        pool->wait_for_result(wait);
        publish_gauges();
        return;
    }
    try {
        flow.update(*partitions, pending, retries.judged_later(), health.blocked());
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
