// The producer's per-message path: produce (nothing per message beyond librdkafka's own work when no
// callback waits: one atomic check for pending failures, no lookup for the default topic, no allocation),
// delivery reports, and the one own-report wait (produce_and_wait), used by ping and create_event.
#include <gracedb/kafka/topics.hpp>

#include <algorithm>

#include "client/kafka/error_map.hpp"
#include "client/kafka/producer_impl.hpp"

namespace gracedb::kafka {
using detail_client::to_ms;
using detail_errors::Op;
using namespace std::chrono_literals;

void Producer::Impl::throw_closed() {
    detail_errors::throw_kafka_error(Errc::client_closed,
                                     "the Kafka producer is closed (close() began): create a new producer",
                                     Op::produce);
}

void Producer::Impl::on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
    try {
        auto* self = static_cast<Impl*>(static_cast<detail_client::ClientCore*>(opaque));
        auto* ctx = static_cast<MessageContext*>(msg->_private);
        if (!msg->err) self->brokers_reachable();
        if (!ctx && !msg->err) return;  // the fast path: delivered, nobody waits
        std::unique_ptr<MessageContext> owned{ctx};
        DeliveryReport report;
        report.topic = rd_kafka_topic_name(msg->rkt);
        report.partition = msg->partition;
        report.offset = msg->offset;
        if (msg->key) report.key = std::string(static_cast<const char*>(msg->key), msg->key_len);
        switch (rd_kafka_message_status(msg)) {
            case RD_KAFKA_MSG_STATUS_PERSISTED: report.persistence = Persistence::persisted; break;
            case RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED:
                report.persistence = Persistence::possibly_persisted;
                break;
            default: report.persistence = Persistence::not_persisted; break;
        }
        if (msg->err) {
            report.error = rd_kafka_err2str(msg->err);
            report.error_code = detail_errors::classify(msg->err, Op::deliver).code;
            report.rdkafka_error = rd_kafka_err2name(msg->err);
        }
        if (!ctx) {
            std::lock_guard lock{self->failures_mutex};
            self->undelivered.push_back(std::move(report));
            self->failures.store(true, std::memory_order_release);
            return;
        }
        if (ctx->on_delivery) {
            try {
                ctx->on_delivery(report);
            } catch (...) {
                std::lock_guard lock{self->failures_mutex};
                if (!self->callback_error) self->callback_error = std::current_exception();
                self->failures.store(true, std::memory_order_release);
            }
        }
        if (ctx->sync) {
            ctx->sync->report = std::move(report);
            ctx->sync->done.store(true, std::memory_order_release);
        }
    } catch (...) {
        // Nothing may unwind into librdkafka.
    }
}

std::string Producer::Impl::topic_for_name(const std::optional<std::string>& pipeline) const {
    const std::string* name = pipeline ? &*pipeline : options.topic ? &*options.topic : nullptr;
    return name ? make_topic_name(instance, *name) : std::string{"(no topic)"};
}

rd_kafka_topic_t* Producer::Impl::topic_handle(const std::optional<std::string>& pipeline) {
    if (!pipeline) {
        if (default_rkt) return default_rkt;
        throw std::invalid_argument(
            "produce() needs a topic: pass ProduceOptions{.topic = \"<pipeline>\"} or construct the producer "
            "with a default topic");
    }
    // One uncontended lock and a hash per message. The lock-free list this replaced saved ~85 instructions
    // per produce() (callgrind: 57 vs 141 here, of ~1,800 on the calling thread; ~1% of the process's ~7,000
    // with the mock cluster); throughput could not tell them apart (bench_producer, issue 20).
    std::lock_guard lock{topics_mutex};
    if (auto it = topics.find(*pipeline); it != topics.end()) return it->second;
    const auto full = make_topic_name(instance, *pipeline);  // throws std::invalid_argument for illegal names
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk.get(), full.c_str(), nullptr);
    if (!rkt)
        detail_errors::throw_kafka_error(rd_kafka_last_error(), "cannot use topic \"" + full + "\": " +
                                                                    rd_kafka_err2str(rd_kafka_last_error()),
                                         Op::produce);
    topics.emplace(*pipeline, rkt);
    return rkt;
}

void Producer::Impl::on_main_queue_event(rd_kafka_t*, void* opaque) {
    // Called by a librdkafka thread, with the queue's lock held, when the queue stops being empty.
    static_cast<Impl*>(opaque)->reports_waiting.store(true, std::memory_order_release);
}

void Producer::Impl::serve_and_raise() {
    // Cleared before polling (inside rd_kafka_poll's queue lock at the latest): a report queued after the
    // poll took the queue's content sets it again, so nothing waits unnoticed.
    if (reports_waiting.load(std::memory_order_relaxed) &&
        reports_waiting.exchange(false, std::memory_order_acq_rel)) {
        HandleUse handles{*this};
        rd_kafka_poll(rk.get(), 0);
    }
    settle_pending();  // before raising a callback's exception: the heal serves the held messages' reports
    if (failures.load(std::memory_order_acquire)) raise_callback_error();
}

void Producer::Impl::produce_raw(const void* data, std::size_t len, ProduceOptions& o, std::shared_ptr<SyncSlot> sync,
                                 bool borrowed) {
    if (!borrowed) serve_and_raise();
    std::unique_ptr<MessageContext> ctx;
    if (o.on_delivery || sync) ctx.reset(new MessageContext{std::move(o.on_delivery), std::move(sync)});
    std::string own_copy;
    for (;;) {
        bool nested = false;
        {
            HandleUse handles{*this};
            nested = handles.nested;
            if (produce_once(data, len, o, ctx, borrowed, !nested)) return;
        }
        // The handle is fatal: rebuild it, then queue the message on the new one. The heal runs callbacks,
        // which may overwrite a borrowed buffer: keep a copy.
        if (borrowed && own_copy.empty()) {
            own_copy.assign(static_cast<const char*>(data), len);
            data = own_copy.data();
        }
        if (!heal()) {  // could not heal (closing, or no new handle): the fatal error
            raise_pending();
            if (closing()) throw_closed();
            detail_errors::throw_kafka_error(
                RD_KAFKA_RESP_ERR__FATAL,
                "the Kafka producer met a fatal error and could not be rebuilt (see the log): create a new "
                "producer",
                Op::produce, true);
        }
    }
}

bool Producer::Impl::produce_once(const void* data, std::size_t len, ProduceOptions& o,
                                  std::unique_ptr<MessageContext>& ctx, bool borrowed, bool may_heal) {
    rd_kafka_topic_t* rkt = topic_handle(o.topic);
    const std::size_t size = len + (o.key ? o.key->size() : 0);
    if (size > message_max_bytes)
        detail_errors::throw_kafka_error(
            Errc::message_too_large,
            "message of " + std::to_string(size) + " bytes (value " + std::to_string(len) + " + key) for topic \"" +
                rd_kafka_topic_name(rkt) + "\" exceeds the producer's limit message.max.bytes=" +
                std::to_string(message_max_bytes) +
                " (checked before compression). Send a smaller message (e.g. a compressed or referenced file), or "
                "raise message.max.bytes in kafka_config if the broker and topic allow it.",
            Op::produce, "MSG_SIZE_TOO_LARGE");

    const std::int32_t partition = o.partition ? *o.partition : RD_KAFKA_PARTITION_UA;
    if (o.headers.empty()) {
        // The common case, by librdkafka's leanest call (no argument list to parse, no topic reference).
        // On failure nothing was queued: the general path below retries and reports exactly as before.
        if (rd_kafka_produce(rkt, partition, RD_KAFKA_MSG_F_COPY, const_cast<void*>(data), len,
                             o.key ? o.key->data() : nullptr, o.key ? o.key->size() : 0, ctx.get()) == 0) {
            ctx.release();  // owned by librdkafka until the delivery report
            return true;
        }
    }

    rd_kafka_vu_t vu[8];
    std::size_t n = 0;
    vu[n].vtype = RD_KAFKA_VTYPE_RKT;
    vu[n++].u.rkt = rkt;
    vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[n].u.mem.ptr = const_cast<void*>(data);
    vu[n++].u.mem.size = len;
    vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
    if (o.key) {
        vu[n].vtype = RD_KAFKA_VTYPE_KEY;
        vu[n].u.mem.ptr = o.key->data();
        vu[n++].u.mem.size = o.key->size();
    }
    if (o.partition) {
        vu[n].vtype = RD_KAFKA_VTYPE_PARTITION;
        vu[n++].u.i32 = partition;
    }
    if (ctx) {
        vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
        vu[n++].u.ptr = ctx.get();
    }
    detail::KafkaHeaders headers;
    if (!o.headers.empty()) {
        headers.reset(rd_kafka_headers_new(o.headers.size()));
        for (const auto& [k, v] : o.headers)
            rd_kafka_header_add(headers.get(), k.data(), static_cast<ssize_t>(k.size()), v.data(),
                                static_cast<ssize_t>(v.size()));
        vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
        vu[n++].u.headers = headers.get();
    }

    detail::KafkaErrorObject error{rd_kafka_produceva(rk.get(), vu, n)};
    if (error && rd_kafka_error_code(error.get()) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        // The local queue is full: serve reports until there is room, at most flush_timeout.
        const auto deadline = detail::Deadline::after(options.flush_timeout);
        std::string own_copy;
        if (borrowed) {
            own_copy.assign(static_cast<const char*>(data), len);
            vu[1].u.mem.ptr = own_copy.data();  // vu[1] is the value
        }
        while (error && rd_kafka_error_code(error.get()) == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
               !deadline.expired() && !closing()) {
            rd_kafka_poll(rk.get(), 50);
            error.reset(rd_kafka_produceva(rk.get(), vu, n));
        }
    }
    if (error) {
        // Fatal (librdkafka refuses with its fatal error's own code, and before its error event was served):
        // produce_raw heals and queues the message on the new handle.
        char reason[8];
        if (may_heal && (has_fatal() || rd_kafka_fatal_error(rk.get(), reason, sizeof reason))) return false;
        raise_pending();
        const auto code = rd_kafka_error_code(error.get());
        if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL && closing()) throw_closed();
        std::string what;
        if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            what = "the producer's local queue stayed full for " + std::to_string(options.flush_timeout.count()) +
                   " ms: the broker is not taking messages (" + last_error() + ")";
        else if (code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
            what = "message of " + std::to_string(size) + " bytes is too large for librdkafka: " +
                   rd_kafka_error_string(error.get());
        else
            what = std::string{"cannot produce to topic \""} + rd_kafka_topic_name(rkt) +
                   "\": " + rd_kafka_error_string(error.get());
        detail_errors::throw_kafka_error(error.get(), what, Op::produce);
    }
    ctx.release();      // owned by librdkafka until the delivery report
    headers.release();  // taken over by librdkafka on success
    return true;
}

void Producer::Impl::wait_for(const SyncSlot& slot, const detail::Deadline& deadline, std::uint64_t mark) {
    while (!slot.done.load(std::memory_order_acquire)) {
        if (deadline.expired() || closing()) return;
        // rd_kafka_flush sends what is queued at once (linger.ms does not apply while it runs) and returns as
        // soon as nothing is left; with other threads' messages in flight it returns after the slice.
        {
            HandleUse handles{*this};
            rd_kafka_flush(rk.get(), to_ms(deadline.slice(5ms)));
        }
        if (slot.done.load(std::memory_order_acquire)) return;
        // A fatal error heals (reporting the slot's message); an authentication refusal raises.
        settle_pending();
        // A TLS failure will not heal. "All brokers down" counts only before the client ever delivered (no broker
        // there: ping, or create_event's publish falling back to HTTP at once); afterwards librdkafka also
        // reports it for benign disconnects (an idle connection closed by the broker) and reconnects by itself.
        if (auto e = connection_failure_since(mark, ever_delivered())) std::rethrow_exception(e);
    }
}

DeliveryReport Producer::Impl::produce_and_wait(std::string_view value, ProduceOptions o,
                                                std::chrono::milliseconds timeout) {
    Use use{*this};
    auto slot = std::make_shared<SyncSlot>();
    const auto deadline = detail::Deadline::after(std::max(timeout, 0ms));
    const auto mark = connection_events();
    // Own message only: other messages' failures and callback exceptions stay for the next call.
    settle_pending();  // fatal: heals first; an authentication refusal: no message can be sent
    auto topic = o.topic;
    auto key = o.key;
    produce_raw(value.data(), value.size(), o, slot, true);
    // A report made before librdkafka's: the message is queued or in flight; librdkafka may still deliver it.
    auto failed = [&](Errc code, std::string rdkafka_error, std::string why) {
        DeliveryReport r;
        r.topic = topic_for_name(topic);
        r.key = key;
        r.error = std::move(why);
        r.error_code = code;
        r.rdkafka_error = std::move(rdkafka_error);
        r.persistence = Persistence::possibly_persisted;
        return r;
    };
    // In slices of at most kInterruptSlice, with the interrupt hook between them: its exception ends the wait
    // and propagates (the message stays queued; its report still reaches its on_delivery).
    for (;;) {
        try {
            wait_for(*slot, detail::Deadline::after(deadline.slice(kInterruptSlice)), mark);
        } catch (const std::exception& e) {  // once queued, a report tells the message's fate, not a throw
            if (slot->done.load(std::memory_order_acquire)) return slot->report;
            const auto* error = dynamic_cast<const gracedb::Error*>(&e);
            return failed(error ? error->code() : Errc::unknown,
                          error ? error->rdkafka_error() : std::string{}, e.what());
        }
        if (slot->done.load(std::memory_order_acquire) || closing() || deadline.expired()) break;
        // The hook runs with this call's hold let go: a close() it makes (a signal handler) does not wait for us.
        if (options.interrupt && !use.released(options.interrupt))
            return failed(Errc::client_closed, {}, "the producer was closed before the delivery report came");
    }
    if (slot->done.load(std::memory_order_acquire)) return slot->report;
    if (closing())
        return failed(Errc::client_closed, {}, "the producer was closed before the delivery report came");
    if (all_brokers_down())  // no broker reachable since the last delivery: the cause of the timeout
        return failed(Errc::connection_failed, "_ALL_BROKERS_DOWN",
                      "no delivery report within " + std::to_string(timeout.count()) + " ms: no broker of " +
                          bootstrap() + " is reachable (" + last_error() + ")");
    return failed(Errc::timed_out, {},
                  "no delivery report within " + std::to_string(timeout.count()) + " ms" +
                      (last_error().empty() ? std::string{} : " (last client error: " + last_error() + ")"));
}

}  // namespace gracedb::kafka
