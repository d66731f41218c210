// Private: what the producer and the consumer share. Building librdkafka's configuration from our options,
// the OAUTHBEARER refresh (fed by TokenProvider), the error callback, the log callback (tokens redacted),
// and the error state that turns librdkafka's asynchronous errors into exceptions on the next call.
#pragma once

#include <gracedb/kafka/connection.hpp>
#include <gracedb/kafka/errors.hpp>

#include <atomic>
#include <exception>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "common/rdkafka.hpp"
#include "client/auth/token_provider.hpp"
#include "client/kafka/error_map.hpp"

namespace gracedb::kafka::detail_client {

/// Close-safety (issue 22): close() may be called from any thread while other threads are inside calls of
/// the same client, and must never destroy librdkafka's handle under them (that was a use-after-free).
/// The rule, the same for the producer and the consumer:
///   - every call that touches the handle holds a Call for its whole duration (a count of calls inside);
///   - close() first marks the client closing: from then on no call gets in (Call raises client_closed);
///   - close() then waits until no call is inside, waking the ones still there meanwhile (their loops look at
///     closing(); librdkafka's own waits are woken with rd_kafka_queue_yield, again every millisecond, since
///     one yield wakes one waiter), and only then destroys the handle;
///   - a call that close() cut short raises client_closed, as does every later call.
/// seq_cst on both sides of the count: either close() sees a call in `active_`, or that call sees `closing_`.
/// A second close() (another thread) waits until the first has finished: close() returning means closed.
/// close() must not be called from inside a call of the same client (a delivery callback): it would wait for
/// itself.
class CallGate {
public:
    /// Holds the gate for one call. `raise_closed` throws the client's client_closed error.
    class Call {
    public:
        Call(CallGate& gate, void (*raise_closed)()) : gate_{gate} {
            if (!gate_.try_enter()) {
                raise_closed();
                std::terminate();  // unreachable: raise_closed throws
            }
        }
        ~Call() {
            if (held_) gate_.leave();
        }
        Call(const Call&) = delete;
        Call& operator=(const Call&) = delete;

        /// Runs `f` (the interrupt hook) with this call's hold let go, so that a close() that `f` makes on
        /// this thread (a Python signal handler closing the client) does not wait for this call, i.e. for
        /// itself; holds the gate again afterwards and returns true, or returns false (nothing held) when
        /// close() began meanwhile. An exception of `f` propagates, with nothing held.
        template <class F>
        [[nodiscard]] bool released(F&& f) {
            gate_.leave();
            held_ = false;
            f();
            held_ = gate_.try_enter();
            return held_;
        }

    private:
        CallGate& gate_;
        bool held_ = true;
    };

    /// False (and nothing held) once close() began.
    bool try_enter() noexcept {
        active_.fetch_add(1, std::memory_order_seq_cst);
        if (!closing_.load(std::memory_order_seq_cst)) return true;
        leave();
        return false;
    }
    void leave() noexcept { active_.fetch_sub(1, std::memory_order_seq_cst); }
    bool closing() const noexcept { return closing_.load(std::memory_order_seq_cst); }

    /// True for the one caller that must close (and then call end_close()); any other caller waits until
    /// that close has ended, then gets false.
    bool begin_close() noexcept {
        if (!closing_.exchange(true, std::memory_order_seq_cst)) return true;
        closed_.wait(false, std::memory_order_acquire);
        return false;
    }
    /// After begin_close(): returns once no call is inside, calling `wake()` every millisecond meanwhile.
    template <class Wake>
    void wait_idle(Wake&& wake) noexcept {
        while (active_.load(std::memory_order_seq_cst) != 0) {
            wake();
            std::this_thread::sleep_for(std::chrono::milliseconds{1});
        }
    }
    void end_close() noexcept {
        closed_.store(true, std::memory_order_release);
        closed_.notify_all();
    }

private:
    std::atomic<int> active_{0};
    std::atomic<bool> closing_{false};
    std::atomic<bool> closed_{false};
};

/// The options the producer and the consumer have in common: the connection (kafka::Connection, token_scope
/// always set) and librdkafka's settings.
struct CommonOptions : Connection {
    std::map<std::string, std::string> kafka_config;
};

/// A duration as librdkafka's int milliseconds (negative: 0; clamped to INT32_MAX).
inline int to_ms(std::chrono::milliseconds d) {
    if (d.count() < 0) return 0;
    return d.count() > INT32_MAX ? INT32_MAX : static_cast<int>(d.count());
}

/// The common part of ProducerOptions or ConsumerOptions.
template <class Options>
CommonOptions common_options(const Options& o) {
    return {Connection::from(o), o.kafka_config};
}

/// "exactly one of instance_name / service_url" -> the instance name. Throws std::invalid_argument.
std::string resolve_instance(const std::optional<std::string>& instance_name,
                             const std::optional<std::string>& service_url);

/// Replaces every JWT-looking substring ("eyJ....") by "[token redacted]".
std::string redact_tokens(std::string text);

/// State shared with librdkafka's callbacks. The address handed to librdkafka as opaque is a ClientCore*.
class ClientCore {
public:
    virtual ~ClientCore() = default;

    /// Builds the configuration: our defaults, then `role_defaults`, then the user's kafka_config (which
    /// wins). Creates the token provider when the protocol is SASL with OAUTHBEARER (throws KafkaTokenError
    /// when no token exists) and installs the callbacks. Throws std::invalid_argument for a bad key/value.
    detail::KafkaConf configure(const CommonOptions& options, const std::map<std::string, std::string>& role_defaults,
                                const char* role);

    /// Creates the client from `conf` (taken over on success; std::invalid_argument with librdkafka's reason
    /// otherwise) and moves OAUTHBEARER refreshes to librdkafka's background thread, so a token is refreshed
    /// even when the application calls nothing for hours.
    detail::KafkaHandle create(rd_kafka_type_t type, detail::KafkaConf conf);

    /// Raises what librdkafka reported since the last call: a sticky fatal error (fatal(), code
    /// producer_fatal / consumer_fatal, every call again), else a non-transient failure kept once: an
    /// authentication refusal (KafkaAuthenticationError, authentication_failed) or a TLS failure
    /// (KafkaConnectionError, tls_failed). Cheap when nothing is pending (one atomic load).
    void raise_pending() {
        if (!pending_.load(std::memory_order_acquire)) return;
        std::exception_ptr e;
        {
            std::lock_guard lock{mutex_};
            if (fatal_) {
                e = fatal_;
            } else {
                e = std::exchange(pending_error_, nullptr);
                pending_.store(false, std::memory_order_release);
            }
        }
        if (e) std::rethrow_exception(e);
    }
    /// Whether librdkafka reported a fatal error (cheap when nothing is pending: one atomic load).
    bool has_fatal() const {
        if (!pending_.load(std::memory_order_acquire)) return false;
        std::lock_guard lock{mutex_};
        return fatal_ != nullptr;
    }
    /// Forgets the fatal error, once the handle that raised it was replaced by a new one (the producer's
    /// heal); a pending non-fatal error stays.
    void clear_fatal() {
        std::lock_guard lock{mutex_};
        fatal_ = nullptr;
        pending_.store(pending_error_ != nullptr, std::memory_order_release);
    }
    /// The fatal error, if librdkafka reported one.
    std::exception_ptr fatal_error() const {
        std::lock_guard lock{mutex_};
        return fatal_;
    }
    /// Takes the pending (non-fatal) error without raising it.
    std::exception_ptr take_pending() {
        std::lock_guard lock{mutex_};
        if (!fatal_) pending_.store(false, std::memory_order_release);
        return std::exchange(pending_error_, nullptr);
    }

    bool all_brokers_down() const { return all_brokers_down_.load(); }
    void brokers_reachable() {
        all_brokers_down_.store(false, std::memory_order_relaxed);
        refused_.store(false, std::memory_order_relaxed);
        delivered_once_.store(true, std::memory_order_relaxed);
    }
    /// Whether a message of this client was ever delivered: until then, "all brokers down" while a call waits
    /// means the brokers are not there (down, wrong address or port, wrong protocol), and the call raises at once;
    /// afterwards it is also reported for benign disconnects (an idle connection closed by the broker) and the
    /// call keeps waiting while librdkafka reconnects.
    bool ever_delivered() const { return delivered_once_.load(std::memory_order_relaxed); }
    /// The broker refused our credentials or TLS failed, and nothing was delivered since: waiting will not
    /// deliver anything (close() stops flushing early).
    bool refused() const { return refused_.load(std::memory_order_relaxed); }

    /// Connection failures librdkafka reported (TLS failures and "all brokers down"), counted so that a call
    /// can tell whether one happened while it waited: `connection_events()` at its start, then
    /// `connection_failure_since(mark)`: the typed error of the newest such failure after `mark`, or null.
    /// `tls_only`: only TLS failures (the consumer's poll: those do not heal by retrying).
    std::uint64_t connection_events() const { return conn_events_.load(std::memory_order_acquire); }
    std::exception_ptr connection_failure_since(std::uint64_t mark, bool tls_only) const {
        if (conn_events_.load(std::memory_order_acquire) == mark) return nullptr;
        std::lock_guard lock{mutex_};
        // A TLS failure first: it is the cause ("all brokers down" follows it when the only broker failed so).
        if (tls_seq_ > mark) return last_tls_;
        if (tls_only) return nullptr;
        return conn_seq_ > mark ? last_conn_ : nullptr;
    }
    std::string last_error() const;
    std::string protocol() const { return protocol_; }
    const std::shared_ptr<gracedb::detail::TokenProvider>& tokens() const { return tokens_; }
    const std::string& bootstrap() const { return bootstrap_; }
    const char* role() const { return role_; }
    /// How errors of this client are typed (consumer or producer side).
    detail_errors::Op op() const { return is_consumer_ ? detail_errors::Op::consume : detail_errors::Op::client; }

    /// librdkafka's error_cb (opaque: this ClientCore). Public so that internal tests can deliver an error
    /// exactly as librdkafka does (e.g. an authentication failure, which the mock cluster cannot produce).
    static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);

private:
    static void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf);
    static void on_token_refresh(rd_kafka_t* rk, const char* config, void* opaque);

    std::shared_ptr<gracedb::detail::TokenProvider> tokens_;
    std::string protocol_;
    std::string bootstrap_;
    const char* role_ = "client";
    bool is_consumer_ = false;
    mutable std::mutex mutex_;
    std::atomic<bool> pending_{false};  // fatal_ or pending_error_ is set
    std::exception_ptr fatal_;
    std::exception_ptr pending_error_;
    std::string last_error_;
    // The last _TRANSPORT/_RESOLVE error's text, and when: the cause "all brokers down" names.
    std::string last_transport_;
    std::chrono::steady_clock::time_point last_transport_at_{};
    std::atomic<bool> all_brokers_down_{false};
    std::atomic<bool> refused_{false};
    std::atomic<bool> delivered_once_{false};
    std::atomic<std::uint64_t> conn_events_{0};
    std::uint64_t conn_seq_ = 0;  // event number of last_conn_ (TLS failure or all brokers down)
    std::uint64_t tls_seq_ = 0;   // event number of last_tls_
    std::exception_ptr last_conn_;
    std::exception_ptr last_tls_;
};

}  // namespace gracedb::kafka::detail_client
