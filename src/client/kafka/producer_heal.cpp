// The producer's heal (issue 22): librdkafka 2.0.2 turns some leader failovers into a fatal error of the
// idempotent producer (librdkafka issue #3584, fixed in 2.3.0). The handle is then unusable for good. Instead
// of leaving the application a dead producer, the call that meets the fatal error (never a librdkafka
// callback) replaces the handle: every message the old one held gets its delivery report (failed, or
// delivered if its request was answered), and later messages go through a new handle made from the same
// configuration (the same token provider and callbacks).
#include <algorithm>
#include <string>
#include <thread>

#include "common/log.hpp"
#include "client/kafka/producer_impl.hpp"
#include "client/kafka/producer_peer.hpp"

namespace gracedb::kafka {
using namespace std::chrono_literals;

thread_local Producer::Impl::HandleUse* Producer::Impl::innermost_use = nullptr;

Producer::Impl::HandleUse::HandleUse(Impl& i) : im{i}, outer{innermost_use} {
    nested = im.used_on_this_thread();
    if (!nested) im.handle_gate.enter();
    innermost_use = this;
}

Producer::Impl::HandleUse::HandleUse(Impl& i, Healer) : im{i}, outer{innermost_use}, nested{true} {
    innermost_use = this;
}

Producer::Impl::HandleUse::~HandleUse() {
    innermost_use = outer;
    if (!nested) im.handle_gate.leave();
}

bool Producer::Impl::used_on_this_thread() const noexcept {
    for (const HandleUse* u = innermost_use; u; u = u->outer)
        if (&u->im == this) return true;
    return false;
}

void Producer::Impl::settle_pending() {
    if (has_fatal() && !used_on_this_thread() && !closing()) heal();
    // Nested (an on_delivery inside this producer's poll): the outer call heals when the callback returns.
    if (has_fatal() && used_on_this_thread()) return;
    raise_pending();
}

bool Producer::Impl::heal() {
    std::lock_guard heal_lock{heal_mutex};
    // Asked of librdkafka itself: a produce() may meet the fatal error before its error event was served.
    char reason[512] = {};
    const auto err = rd_kafka_fatal_error(rk.get(), reason, sizeof reason);
    if (!err) return true;  // another thread healed meanwhile
    if (closing()) return false;
    const std::string cause =
        std::string{rd_kafka_err2name(err)} + ": " + detail_client::redact_tokens(reason);
    // Only what a new handle mends: librdkafka's idempotence state gone wrong. An authorization refusal (no
    // IdempotentWrite ACL, ...) or fencing would meet the new handle as well: raised to the application, once
    // and for good, with its cause.
    switch (err) {
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        if (!heal_refused.exchange(true))
            detail::log_error("Kafka producer: fatal error " + cause +
                              ": not healed (a new producer would meet it too); fix the cause and make a new one");
        return false;
    default:
        break;
    }
    const auto now = std::chrono::steady_clock::now();
    while (!recent_heals.empty() && now - recent_heals.front() > kHealWindow) recent_heals.pop_front();
    if (recent_heals.size() >= kMaxHeals) {
        if (!heal_refused.exchange(true))
            detail::log_error("Kafka producer: fatal error " + cause + ": not healed, " +
                              std::to_string(recent_heals.size()) +
                              " heals within 10 minutes already (more than librdkafka's failover bug explains)");
        return false;
    }

    // 1. The new handle first: if it cannot be made, the producer stays as it is (the fatal error is raised).
    detail::KafkaHandle fresh;
    try {
        fresh = create(RD_KAFKA_PRODUCER, detail::KafkaConf{rd_kafka_conf_dup(spare_conf.get())});
    } catch (const std::exception& e) {
        detail::log_error(std::string{"Kafka producer: cannot rebuild the producer after its fatal error: "} +
                          e.what());
        return false;
    }
    rd_kafka_queue_t* fresh_queue = rd_kafka_queue_get_main(fresh.get());
    rd_kafka_topic_t* fresh_default = nullptr;
    if (default_rkt)
        fresh_default = rd_kafka_topic_new(fresh.get(), rd_kafka_topic_name(default_rkt), nullptr);
    if (default_rkt && !fresh_default) {
        rd_kafka_queue_destroy(fresh_queue);
        detail::log_error("Kafka producer: cannot rebuild the producer after its fatal error: the default "
                          "topic's handle could not be made");
        return false;
    }

    // 2. No other thread uses the handles from here on: the ones inside a call finish their librdkafka call
    //    (a poll waiting for reports is woken), new ones wait until the heal ends.
    handle_gate.healing.store(true, std::memory_order_seq_cst);
    while (handle_gate.users.load(std::memory_order_seq_cst) != 0) {
        rd_kafka_queue_yield(main_queue);
        std::this_thread::sleep_for(1ms);
    }
    detail::KafkaHandle old = std::move(rk);
    rd_kafka_queue_t* old_queue = std::exchange(main_queue, fresh_queue);
    rd_kafka_topic_t* old_default = std::exchange(default_rkt, fresh_default);
    TopicHandles old_topics;
    {
        std::lock_guard lock{topics_mutex};
        old_topics.swap(topics);
    }
    rk = std::move(fresh);
    rd_kafka_queue_cb_event_enable(main_queue, &Impl::on_main_queue_event, this);
    reports_waiting.store(true, std::memory_order_release);

    // 3. The old handle's messages: librdkafka purged the queued ones (their reports are waiting); in-flight
    //    requests get their answer (delivered or failed) for up to kHealDrain (flush_timeout if shorter), then
    //    are purged too (failed, possibly persisted). Every report is served here, on this thread; an
    //    on_delivery that produces uses the new handle.
    int unreported = 0, unanswered = 0;
    const auto drain = std::min<std::chrono::milliseconds>(options.flush_timeout, kHealDrain);
    {
        HandleUse mark{*this, Healer{}};
        const auto deadline = detail::Deadline::after(drain);
        while (rd_kafka_outq_len(old.get()) > 0 && !deadline.expired()) rd_kafka_poll(old.get(), 10);
        unanswered = rd_kafka_outq_len(old.get());  // purged below: failed, possibly persisted
        // The purge is handed to the broker threads (not waited for: one may be inside a slow connect); their
        // reports are served for up to 2 s, what is still unreported after that is counted below.
        purge_and_serve(old.get(), 2s);
        unreported = rd_kafka_outq_len(old.get());
    }
    destroy(old_topics);
    rd_kafka_queue_cb_event_enable(old_queue, nullptr, nullptr);
    rd_kafka_queue_destroy(old_queue);
    if (old_default) rd_kafka_topic_destroy(old_default);
    rd_kafka_destroy_flags(old.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    if (unreported > 0) {
        std::lock_guard lock{failures_mutex};
        undelivered.push_back({.topic = "(unknown)",
                               .error = std::to_string(unreported) +
                                        " message(s) without a delivery report when the producer was rebuilt "
                                        "after a fatal error",
                               .error_code = Errc::producer_fatal});
        failures.store(true, std::memory_order_release);
    }
    clear_fatal();
    recent_heals.push_back(std::chrono::steady_clock::now());
    const auto n = heals.fetch_add(1, std::memory_order_relaxed) + 1;
    handle_gate.healing.store(false, std::memory_order_seq_cst);
    handle_gate.healing.notify_all();
    detail::log_warning("Kafka producer rebuilt after librdkafka's fatal error (heal " + std::to_string(n) +
                        "): " + cause + ". Every message it held was reported (failed unless delivered)" +
                        (unanswered > 0 ? "; " + std::to_string(unanswered) + " message(s) unanswered after " +
                                              std::to_string(drain.count()) +
                                              " ms were purged: failed, possibly persisted (they may be in the topic)"
                                        : std::string{}) +
                        (unreported > 0 ? ", " + std::to_string(unreported) + " without a report" : "") +
                        "; later messages go through a new librdkafka handle");
    return true;
}

rd_kafka_t* detail_producer_peer::handle(Producer& producer) {
    auto& im = producer.impl();
    Producer::Impl::HandleUse handles{im};
    return im.rk.get();
}

}  // namespace gracedb::kafka
