// The producer's flush and close: flush first (up to the timeout, whatever error is pending), fail fast on
// errors that waiting cannot cure, purge only what is still queued at the deadline, and report both what was
// not delivered and the pending error. Nothing accepted is dropped silently.
#include <algorithm>

#include "common/log.hpp"
#include "client/kafka/error_map.hpp"
#include "client/kafka/producer_impl.hpp"

namespace gracedb::kafka {
using detail_client::CallGate;
using detail_client::to_ms;
using detail_errors::Op;
using namespace std::chrono_literals;

void Producer::Impl::raise_callback_error() {
    std::exception_ptr e;
    {
        std::lock_guard lock{failures_mutex};
        e = std::exchange(callback_error, nullptr);
        failures.store(!undelivered.empty(), std::memory_order_release);
    }
    if (e) std::rethrow_exception(e);
}

void Producer::Impl::raise_undelivered(std::exception_ptr also) {
    std::vector<DeliveryReport> failed;
    {
        std::lock_guard lock{failures_mutex};
        failed.swap(undelivered);
        failures.store(callback_error != nullptr, std::memory_order_release);
    }
    if (failed.empty()) {
        if (also) std::rethrow_exception(also);
        return;
    }
    std::string text = std::to_string(failed.size()) + " message(s) could not be delivered: ";
    for (std::size_t i = 0; i < failed.size() && i < 5; ++i) {
        const auto& f = failed[i];
        text += (i ? "; " : "") + std::string{"topic "} + f.topic + ", key " +
                (f.key ? "\"" + *f.key + "\"" : "(none)") + ": " + f.error.value_or("?");
    }
    if (failed.size() > 5) text += "; ...";
    if (also) {
        try {
            std::rethrow_exception(also);
        } catch (const std::exception& e) {
            text += std::string{". Also pending: "} + e.what();
        } catch (...) {
            text += ". Also pending: an unknown exception";
        }
    }
    const auto& first = failed.front();
    detail_errors::throw_kafka_error(first.error_code, text, Op::deliver, first.rdkafka_error, false,
                                     first.error_code == Errc::timed_out);
}

int Producer::Impl::flush_for(std::chrono::milliseconds timeout, bool forever) {
    Use use{*this};
    const auto mark = connection_events();
    const auto deadline =
        forever ? detail::Deadline::never() : detail::Deadline::after(std::max(timeout, 0ms));
    auto interrupt = interrupt_ticker();
    bool flushed = false;
    for (;;) {
        if (closing()) throw_closed();  // close() began while this call waited: what is left is close()'s
        if (deadline.expired()) break;
        // In slices, to raise what librdkafka reports while we wait rather than at the deadline, and to end
        // soon after a close() from another thread (rd_kafka_flush cannot be woken; it polls in 10 ms steps).
        rd_kafka_resp_err_t rc;
        {
            HandleUse handles{*this};
            rc = rd_kafka_flush(rk.get(), to_ms(deadline.slice(10ms)));
        }
        const bool fatal = has_fatal();
        settle_pending();  // a fatal error: heals (reporting what the old handle held), then flushes the new
                           // handle
        if (rc == RD_KAFKA_RESP_ERR_NO_ERROR && !fatal) {
            flushed = true;
            break;
        }
        // The flush rule (also Python's): a TLS failure raises at once (waiting cannot cure it); no reachable
        // broker only when the whole time is up (below): librdkafka reconnects by itself, and a broker back
        // within the caller's timeout delivers what is queued. A flush without a limit from a producer that
        // never reached a broker raises at once (as produce_and_wait): a wrong address would wait for ever.
        if (auto e = connection_failure_since(mark, forever ? ever_delivered() : true)) {
            raise_undelivered();
            std::rethrow_exception(e);
        }
        // The same when the failure was reported before this flush began (librdkafka says "all brokers down"
        // once, when it happens): the state, not only the events since the mark.
        if (forever && !ever_delivered() && all_brokers_down()) {
            if (auto e = connection_failure_since(0, false)) {
                raise_undelivered();
                std::rethrow_exception(e);
            }
        }
        interrupt(&use);  // its exception ends the wait; what is queued stays queued
    }
    settle_pending();  // a fatal error that could not be healed: the cause of what failed, first
    raise_undelivered();
    raise_callback_error();
    raise_pending();
    // Once the flush succeeded nothing of ours is left, whatever arrives right after it (queued_messages()
    // already leaves out the main queue's events, such as a connection closed at a token's expiry).
    const int remaining = flushed ? 0 : queued_messages();
    if (remaining > 0 && all_brokers_down())
        detail_errors::throw_kafka_error(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
                                         "flush timed out with " + std::to_string(remaining) +
                                             " message(s) queued: no Kafka broker of " + bootstrap() +
                                             " is reachable (" + last_error() + ")",
                                         Op::client);
    return remaining;
}

void Producer::Impl::close(std::chrono::milliseconds timeout, bool interruptible) {
    const auto deadline = detail::Deadline::after(std::max(timeout, 0ms));
    // Flushes up to the deadline, whatever error is pending, in slices with `between()` after each (true:
    // stop); but not while the broker refuses our credentials or TLS fails: waiting cannot deliver anything.
    auto flush_until_deadline = [&](auto&& between) {
        while (!deadline.expired() && !refused()) {
            {
                HandleUse handles{*this};  // a heal running in a call that got in before close() ends first
                const int slice = to_ms(deadline.slice(kInterruptSlice));
                if (rd_kafka_flush(rk.get(), slice) == RD_KAFKA_RESP_ERR_NO_ERROR) return;
            }
            if (between()) return;
        }
    };
    // 0. With an interrupt hook (not from the destructor), the flush runs before close() begins: the hook's
    //    exception then leaves the producer open, with everything still queued (close again, or let the
    //    destructor close it). No hook: straight to 1.
    if (interruptible && options.interrupt && gate.try_enter()) {
        struct Leave {
            CallGate& gate;
            ~Leave() { gate.leave(); }
        } leave{gate};
        auto interrupt = interrupt_ticker();
        flush_until_deadline([&] {
            if (closing()) return true;  // another thread's close() began: it waits for this call to leave
            interrupt();
            return false;
        });
    }
    if (!gate.begin_close()) return;  // closed already (or by another thread, which has finished)
    struct Ended {
        CallGate& gate;
        ~Ended() { gate.end_close(); }
    } ended{gate};
    auto no_stop = [] { return false; };
    // 1. Flush first, up to the deadline (produce() calls racing us may still add).
    flush_until_deadline(no_stop);
    // 2. Calls that got in before close() began end at once: waits and full queues look at closing(), and
    //    a poll() waiting inside librdkafka is woken. None uses the handles after this.
    //    No heal runs after this (heals run inside calls); one running now ends first (it uses the handles).
    gate.wait_idle([&] {
        if (!handle_gate.try_enter()) return;
        rd_kafka_queue_yield(main_queue);
        handle_gate.leave();
    });
    if (rd_kafka_outq_len(rk.get()) > 0) flush_until_deadline(no_stop);
    // 3. Purge only what is still there at the deadline, and serve the purged messages' reports.
    purge_and_serve(rk.get(), 200ms);
    const int lost_track = rd_kafka_outq_len(rk.get());
    // 4. What is pending: an on_delivery's exception, else a fatal or authentication error.
    std::exception_ptr pending;
    {
        std::lock_guard lock{failures_mutex};
        pending = std::exchange(callback_error, nullptr);
    }
    // A fatal error met by no call since (nothing healed it): every message the handle held was reported
    // above (failed unless delivered), and the producer ends here anyway. Logged, not raised: there is
    // nothing to rebuild.
    if (has_fatal())
        detail::log_warning("Kafka producer closed after librdkafka's fatal error; the messages it held were "
                            "reported (failed unless delivered)");
    if (!pending) pending = take_pending();
    release();
    if (lost_track > 0) {
        std::lock_guard lock{failures_mutex};
        undelivered.push_back({.topic = "(unknown)",
                               .error = std::to_string(lost_track) + " message(s) without a delivery report when "
                                        "the producer was released",
                               .error_code = Errc::purged});
    }
    raise_undelivered(pending);
}

void Producer::Impl::purge_and_serve(rd_kafka_t* handle, std::chrono::milliseconds serve) {
    if (rd_kafka_outq_len(handle) == 0) return;
    rd_kafka_purge(handle,
                   RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
    const auto until = detail::Deadline::after(serve);
    do rd_kafka_poll(handle, 10);
    while (rd_kafka_outq_len(handle) > 0 && !until.expired());
}

void Producer::Impl::destroy(TopicHandles& handles) noexcept {
    for (auto& [pipeline, rkt] : handles) rd_kafka_topic_destroy(rkt);
    handles.clear();
}

void Producer::Impl::release() noexcept {
    if (released.exchange(true)) return;
    {
        // No call is using the handles any more (close() waited for them, or the destructor runs).
        std::lock_guard lock{topics_mutex};
        destroy(topics);
    }
    if (main_queue) {
        rd_kafka_queue_cb_event_enable(main_queue, nullptr, nullptr);
        rd_kafka_queue_destroy(std::exchange(main_queue, nullptr));
    }
    if (default_rkt) rd_kafka_topic_destroy(std::exchange(default_rkt, nullptr));
    // Nothing is left to wait for: the flush and the purge above had their time.
    if (rk) rd_kafka_destroy_flags(rk.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

}  // namespace gracedb::kafka
