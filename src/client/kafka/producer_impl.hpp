// Private: the producer's state and its three concerns, shared by producer.cpp (the public calls and ping),
// producer_send.cpp (the per-message path: produce, delivery reports, the own-report wait) and
// producer_close.cpp (flush, close, and what is reported when messages are not delivered).
#pragma once

#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/producer.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/kafka/client.hpp"
#include "common/deadline.hpp"

namespace gracedb::kafka {

// What produce_and_wait waits on; shared with the message's opaque so that a report arriving after the waiter
// gave up is safe. Written once by the thread that serves the report (release), read after `done` (acquire).
struct SyncSlot {
    std::atomic<bool> done{false};
    DeliveryReport report;
};

// Per-message opaque; only allocated for messages that have an on_delivery or a waiter.
struct MessageContext {
    std::function<void(const DeliveryReport&)> on_delivery;
    std::shared_ptr<SyncSlot> sync;
};

struct GRACEDB_NO_EXPORT Producer::Impl final : detail_client::ClientCore {
    ProducerOptions options;
    std::string instance;
    std::size_t message_max_bytes = 1000000;
    detail::KafkaHandle rk;
    rd_kafka_topic_t* default_rkt = nullptr;  // the default topic's handle, made once (no lookup per message)
    // Other pipelines' handles, made on first use, by pipeline (a few per producer). A plain map under a
    // mutex: a lock-free list measured no faster end to end (see topic_handle()).
    using TopicHandles = std::unordered_map<std::string, rd_kafka_topic_t*>;
    std::mutex topics_mutex;
    TopicHandles topics;  // guarded by topics_mutex
    static void destroy(TopicHandles& handles) noexcept;

    // The main queue (delivery reports, errors, logs) tells us when it stops being empty: produce() polls
    // only then (rd_kafka_poll on an empty queue costs a lock and a clock read per message). Starts true:
    // whatever was queued before the notification was set up is served by the first call.
    rd_kafka_queue_t* main_queue = nullptr;
    std::atomic<bool> reports_waiting{true};
    static void on_main_queue_event(rd_kafka_t*, void* opaque);

    // Failures kept for the next call. `failures` is set whenever one of them is: the per-message path reads
    // one atomic and takes the mutex only when something is there.
    std::atomic<bool> failures{false};
    std::mutex failures_mutex;
    std::vector<DeliveryReport> undelivered;  // failed messages that had no on_delivery
    std::exception_ptr callback_error;        // first exception thrown by an on_delivery

    // Lifecycle (see detail_client::CallGate): every call using the handles holds a Use; close() releases
    // them only when none is left (a produce() racing close() from another thread either gets in before and
    // is flushed, or raises; a poll(), flush() or pending_messages() is woken and ends; none ever touches a
    // released handle).
    detail_client::CallGate gate;
    std::atomic<bool> released{false};
    bool closing() const noexcept { return gate.closing(); }

    // ---- healing (producer_heal.cpp) ----
    // librdkafka 2.0.2 raises a fatal idempotence error after some leader failovers (its issue #3584). The
    // producer then heals: it reports every message the old handle held as failed (their delivery reports),
    // and replaces the handle (and its topic handles and main queue) by a new one made from the same
    // configuration. Every use of the handles holds a HandleUse for one short librdkafka call (a produce, a
    // flush or poll slice); the heal waits until none is held, so nothing ever uses a handle being replaced.
    // Nested uses on one thread (an on_delivery that calls produce() from inside a poll) do not wait.
    struct HandleGate {
        std::atomic<int> users{0};
        std::atomic<bool> healing{false};
        void enter() noexcept {
            for (;;) {
                users.fetch_add(1, std::memory_order_seq_cst);
                if (!healing.load(std::memory_order_seq_cst)) return;
                users.fetch_sub(1, std::memory_order_seq_cst);
                healing.wait(true, std::memory_order_seq_cst);
            }
        }
        /// Like enter(), but gives up (false, nothing held) while a heal runs.
        bool try_enter() noexcept {
            users.fetch_add(1, std::memory_order_seq_cst);
            if (!healing.load(std::memory_order_seq_cst)) return true;
            users.fetch_sub(1, std::memory_order_seq_cst);
            return false;
        }
        void leave() noexcept { users.fetch_sub(1, std::memory_order_seq_cst); }
    };
    HandleGate handle_gate;
    struct Healer {};
    /// Holds the handles for one librdkafka call. RAII; the uses of one thread form a list (innermost first)
    /// so that a nested use of the same producer is recognised.
    struct HandleUse {
        Impl& im;
        HandleUse* outer;
        bool nested = false;
        explicit HandleUse(Impl& i);
        HandleUse(Impl& i, Healer);  // the healer's mark: its callbacks' calls use the new handle at once
        ~HandleUse();
        HandleUse(const HandleUse&) = delete;
        HandleUse& operator=(const HandleUse&) = delete;
    };
    static thread_local HandleUse* innermost_use;
    /// Whether this thread is inside a use of this producer's handles (then it must not heal: it would wait
    /// for itself; the outer call heals).
    bool used_on_this_thread() const noexcept;
    std::mutex heal_mutex;
    std::atomic<std::uint64_t> heals{0};
    /// When the recent heals happened (guarded by heal_mutex): more than kMaxHeals within kHealWindow and
    /// the fatal error reaches the application (something other than librdkafka's bug is at work).
    std::deque<std::chrono::steady_clock::time_point> recent_heals;
    static constexpr std::size_t kMaxHeals = 5;
    std::atomic<bool> heal_refused{false};  ///< the refusal is logged once
    static constexpr std::chrono::minutes kHealWindow{10};
    /// How long a heal waits for the old handle's in-flight requests to be answered (never longer than
    /// flush_timeout) before it purges them (reported failed, possibly persisted): the heal runs inside a
    /// produce() or a wait with its own deadline, which a slow broker must not stretch to flush_timeout.
    static constexpr std::chrono::seconds kHealDrain{3};
    detail::KafkaConf spare_conf;  // a copy of the configuration the handle was made from
    /// Heals if librdkafka reported a fatal error and this thread may (not nested, not closing), then raises
    /// what is pending: the fatal error only when the heal failed or cannot happen here.
    void settle_pending();
    /// Replaces a fatal handle (see above). False when it could not (closing, or the new handle could not be
    /// made: logged, and the fatal error stays).
    bool heal();

    explicit Impl(ProducerOptions o);
    ~Impl() override;

    /// Holds the handles for one call; raises KafkaProducerError (client_closed) once close() began.
    struct Use : detail_client::CallGate::Call {
        explicit Use(Impl& im) : Call{im.gate, &Impl::throw_closed} {}
    };
    [[noreturn]] static void throw_closed();

    static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque);

    // ---- the interrupt hook (ProducerOptions::interrupt) ----
    /// The longest a blocking call waits between two calls of the hook.
    static constexpr std::chrono::milliseconds kInterruptSlice{100};
    /// Calls the hook, if any, once `kInterruptSlice` has passed since the wait began or the hook's last
    /// call; its exception propagates (the caller leaves what is queued as it is).
    struct InterruptTicker {
        const std::function<void()>& hook;
        detail::Deadline next = detail::Deadline::after(kInterruptSlice);
        /// `use`: the call's hold, let go while the hook runs (a close() it makes does not wait for the call).
        void operator()(Use* use = nullptr) {
            if (!hook || !next.expired()) return;
            if (!use)
                hook();
            else if (!use->released(hook))
                throw_closed();  // close() began while the hook ran: what is left is close()'s
            next = detail::Deadline::after(kInterruptSlice);
        }
    };
    InterruptTicker interrupt_ticker() const { return InterruptTicker{options.interrupt}; }

    // ---- sending (producer_send.cpp) ----
    rd_kafka_topic_t* topic_handle(const std::optional<std::string>& pipeline);
    std::string topic_for_name(const std::optional<std::string>& pipeline) const;
    /// Queues one message. `borrowed`: `data` lives in a buffer that a callback run while serving reports
    /// could overwrite (the thread's JSON buffer): copied before anything is served.
    void produce_raw(const void* data, std::size_t len, ProduceOptions& o, std::shared_ptr<SyncSlot> sync = {},
                     bool borrowed = false);
    /// One attempt of produce_raw. False (nothing queued, `ctx` kept) when the handle is fatal and the
    /// caller may heal (`may_heal`) and try again.
    bool produce_once(const void* data, std::size_t len, ProduceOptions& o,
                      std::unique_ptr<MessageContext>& ctx, bool borrowed, bool may_heal);
    /// Serves waiting reports and raises what is pending (a callback's exception, a fatal or auth error).
    void serve_and_raise();
    /// Queues one message, sends it at once whatever linger.ms, and waits for its own report only.
    DeliveryReport produce_and_wait(std::string_view value, ProduceOptions options, std::chrono::milliseconds timeout);
    /// Waits for `slot` at most until `deadline`, sending at once what is queued (flush semantics: linger.ms
    /// is ignored while waiting), and failing fast on errors that will not go away by waiting.
    void wait_for(const SyncSlot& slot, const detail::Deadline& deadline, std::uint64_t mark);

    /// Messages not yet done (queued, in flight, or with a report not served yet). rd_kafka_outq_len also counts
    /// the main queue's events (an error, a log line, a report op), which are not messages.
    int queued_messages() {
        HandleUse use{*this};
        const int all = rd_kafka_outq_len(rk.get());
        const int events = static_cast<int>(rd_kafka_queue_length(main_queue));
        return all > events ? all - events : 0;
    }

    // ---- flushing and closing (producer_close.cpp) ----
    void raise_callback_error();
    /// KafkaMessageDeliveryError for the failed messages that had no on_delivery (none: returns).
    void raise_undelivered(std::exception_ptr also = nullptr);
    int flush_for(std::chrono::milliseconds timeout, bool forever);
    /// `interruptible`: Producer::close() (calls the interrupt hook); false: the destructor (never calls it).
    void close(std::chrono::milliseconds timeout, bool interruptible);
    void release() noexcept;
    /// Purges what `handle` still holds and serves the purged messages' reports, for at most `serve`.
    static void purge_and_serve(rd_kafka_t* handle, std::chrono::milliseconds serve);
};

}  // namespace gracedb::kafka
