// gracedb::kafka::Producer: the spec's GraceDbKafkaProducer. SciToken authentication (SASL OAUTHBEARER over
// TLS), topic namespacing, guaranteed delivery, ping.
#pragma once

#include <gracedb/export.hpp>

#include <gracedb/error.hpp>
#include <gracedb/kafka/auth.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace gracedb::kafka {

struct detail_producer_peer;

/// Whether a message may be in the broker's log (librdkafka's per-message status, rd_kafka_message_status).
///   not_persisted:      it is not there and never will be from this report on (e.g. failed before it was
///                       sent, or refused by the broker): sending it again cannot make a second copy;
///   possibly_persisted: it may be there (sent, no answer), or may still get there: produce_and_wait's own
///                       reports made before librdkafka's (a timeout, a wait ended by a connection, TLS or
///                       authentication failure, close()) say this, as librdkafka still holds the message;
///   persisted:          it is in the log (every delivered message).
enum class Persistence { not_persisted, possibly_persisted, persisted };

/// The outcome of one message. `error` empty: delivered at `partition`/`offset`. When `error` is set,
/// `error_code` says what kind of failure it was (authorization_failed for a topic the ACLs refuse,
/// timed_out, message_too_large, purged by close(), producer_fatal, delivery_failed otherwise),
/// `rdkafka_error` librdkafka's name for it ("TOPIC_AUTHORIZATION_FAILED", "_MSG_TIMED_OUT", ...), and
/// `persistence` whether the message may nevertheless be (or still become) part of the topic.
struct GRACEDB_EXPORT DeliveryReport {
    std::string topic{};                                   ///< The full (namespaced) topic.
    std::int32_t partition = -1;                           ///< Where it was written; -1 if not.
    std::int64_t offset = -1;                              ///< Its offset there; -1 if not delivered.
    std::optional<std::string> key{};                      ///< The message's key, if it had one.
    std::optional<std::string> error{};                    ///< Why it failed; empty when delivered.
    gracedb::Errc error_code = gracedb::Errc::unknown;     ///< The kind of failure (when `error` is set).
    std::string rdkafka_error{};                           ///< librdkafka's name for the failure.
    Persistence persistence = Persistence::not_persisted;  ///< Whether it may be in the topic anyway.
};

/// What Producer::ping() delivered: where, and the ping message itself.
struct GRACEDB_EXPORT PingResult {
    std::string topic{};          ///< The full topic the ping went to.
    std::int32_t partition = -1;  ///< Its partition.
    std::int64_t offset = -1;     ///< Its offset.
    nlohmann::json message{};     ///< The message sent: {"type": "ping", sub, scope, host, timestamp}.
};

/// Field names and order follow the Python keyword arguments. Exactly one of instance_name / service_url.
struct GRACEDB_EXPORT ProducerOptions {
    /// The brokers, "host:port[,host:port...]" (librdkafka's bootstrap.servers). Required.
    std::string bootstrap_servers{};
    std::optional<std::string> topic{};          ///< default pipeline, namespaced for you
    /// The instance topics are namespaced with ("gracedb-dev"); or give service_url.
    std::optional<std::string> instance_name{};
    /// The GraceDB service URL; its host's first label is the instance (derive_instance_name).
    std::optional<std::string> service_url{};
    bool use_ssl = true;                         ///< false: SASL_PLAINTEXT (the token travels in clear text)
    /// A PEM file of CA certificates that verify the brokers (librdkafka's ssl.ca.location); default: the
    /// system's.
    std::optional<std::string> ca_cert_path{};
    /// Accept a broker certificate for another host name (logged as a warning; for tests only).
    bool skip_hostname_verification = false;
    /// The scope the Kafka token must grant.
    std::string token_scope = "kafka.produce";
    std::optional<std::string> token_audience{};  ///< default: the first broker's host name
    /// Re-read the token from disk before it expires (see SciTokenRefreshManager); false: use the first one
    /// until its exp.
    bool reload_cred = true;
    /// How long before the token's exp it is re-read from disk.
    std::chrono::milliseconds reload_buffer = std::chrono::seconds{300};
    /// How long the destructor flushes what is queued before it gives up (and logs what was left); also
    /// how long GraceDb::create_event waits for its message's delivery report.
    std::chrono::milliseconds flush_timeout = std::chrono::seconds{10};
    /// acks=all and enable.idempotence=true (kafka_config must not contradict them); false: acks=1, no
    /// idempotence, linger.ms=0.
    bool guaranteed_delivery = true;
    std::map<std::string, std::string> kafka_config{};  ///< passed to librdkafka, wins over our defaults
    /// Called on the waiting thread between slices (at most 100 ms) of every blocking call of this producer
    /// (flush, produce_and_wait, ping and close; never the destructor): an exception it throws ends
    /// the wait and propagates to the caller; nothing queued is dropped (flush again to go on). close() calls
    /// it only while it flushes, before it begins closing: interrupted, the producer stays open (close again,
    /// or let the destructor close it). The Python package sets it to run Python's signal handlers, so
    /// Ctrl-C interrupts a long flush. Empty: no calls.
    std::function<void()> interrupt{};
};

/// Python: produce(value, topic, key, headers, partition, on_delivery).
struct GRACEDB_EXPORT ProduceOptions {
    std::optional<std::string> topic{};  ///< pipeline name, namespaced for you; default: the producer's topic
    std::optional<std::string> key{};    ///< The message key (events are keyed by graceid).
    /// Headers as (name, value) pairs, in order; a name may repeat.
    std::vector<std::pair<std::string, std::string>> headers{};
    std::optional<std::int32_t> partition{};  ///< A fixed partition; default: librdkafka's partitioner.
    /// Runs on the thread that calls produce(), flush(), poll() or close(). An exception it throws is
    /// rethrown from that call.
    std::function<void(const DeliveryReport&)> on_delivery{};
};

/// Move-only; the destructor closes with `flush_timeout`, never throws, and logs what was left undelivered.
/// produce() may be called from several threads; flush(), poll(), ping() from one at a time. close() may be
/// called from any thread, also while other threads are inside calls: those end promptly with
/// KafkaProducerError (client_closed; produce_and_wait: a report with that code), never touching a released
/// client.
class GRACEDB_EXPORT Producer {
public:
    /// Throws std::invalid_argument for bad options (both or neither of instance_name/service_url, an
    /// unknown librdkafka key or bad value, kafka_config contradicting guaranteed_delivery) and
    /// KafkaTokenError when SASL is used and no usable token exists (code token_not_found when discovery
    /// found nothing, token_unusable when what it found is expired, malformed or not for this audience).
    ///
    /// Codes of the errors the calls below raise (gracedb::Error::code()):
    ///   KafkaProducerError       client_closed (after close() began), message_too_large, queue_full,
    ///                            producer_fatal (fatal() true: librdkafka's fatal error that the producer
    ///                            could not heal, see heal_count()), invalid_configuration (librdkafka
    ///                            refused an argument)
    ///   KafkaMessageDeliveryError the cause of the first failed message: authorization_failed (topic refused
    ///                            by the ACLs), timed_out (message.timeout.ms), purged (still queued when
    ///                            close() gave up), message_too_large, delivery_failed (other broker errors)
    ///   KafkaAuthenticationError authentication_failed (the broker refused the token: at once, not at the
    ///                            timeout), authorization_failed (ping of a refused topic)
    ///   KafkaConnectionError     tls_failed (certificate not trusted, host name mismatch, not a TLS port),
    ///                            connection_failed (no broker reachable), timed_out (no report in time)
    /// retriable() is true for connection_failed, timed_out and queue_full.
    explicit Producer(ProducerOptions options);
    ~Producer();
    /// Takes over the other producer's client; the moved-from object may only be destroyed or assigned.
    Producer(Producer&&) noexcept;
    /// Closes this producer's client (as the destructor does), then takes over the other's.
    Producer& operator=(Producer&&) noexcept;
    Producer(const Producer&) = delete;
    Producer& operator=(const Producer&) = delete;

    /// A JSON value (Python's dict), sent as JSON text. Constrained to nlohmann::json itself, so that strings
    /// and byte vectors never take this overload.
    template <class Json>
        requires std::same_as<std::remove_cvref_t<Json>, nlohmann::json>
    void produce(const Json& value, ProduceOptions options = {}) {
        produce_json(value, std::move(options));
    }
    /// Text (Python's str), sent as its characters, without quotes: string literals, std::string, views.
    void produce(std::string_view value, ProduceOptions options = {});
    /// Bytes, sent as they are.
    void produce(std::span<const std::byte> value, ProduceOptions options = {});

    /// Produces one message, sends it at once (whatever linger.ms), and waits for its own delivery report
    /// (not for everything queued), at most `timeout`. Thread-safe: several threads may wait at once, each for
    /// its own report. Returns the report; a report with `error` set means it was not delivered (yet). A
    /// timeout gives a report whose error says so (error_code timed_out; persistence possibly_persisted: the
    /// message may still be delivered later); an authentication refusal, a TLS failure or no reachable broker
    /// seen while waiting ends the wait at once with a report of that code (also possibly_persisted). Other
    /// messages' pending errors are left for the next call; raises only for this message, and only before it
    /// was queued (KafkaProducerError: client_closed, producer_fatal, message_too_large, ...).
    DeliveryReport produce_and_wait(std::string_view value, ProduceOptions options,
                                    std::chrono::milliseconds timeout);

    /// Waits until everything queued is delivered or failed, at most `timeout`; returns how many are still
    /// queued. Raises KafkaMessageDeliveryError for failed messages that had no on_delivery, an on_delivery's
    /// exception, and, as soon as librdkafka reports them (not at the timeout): KafkaAuthenticationError
    /// (authentication_failed), KafkaConnectionError (tls_failed); when the time is up with messages still
    /// queued and no broker reachable, KafkaConnectionError (connection_failed: librdkafka reconnects until
    /// then). Messages still queued stay queued (nothing is dropped by an error of flush).
    int flush(std::chrono::milliseconds timeout);
    /// flush() with no argument waits until the queue is empty; a producer that never reached a broker
    /// raises KafkaConnectionError (connection_failed) as soon as librdkafka finds none reachable (a wrong
    /// address would wait for ever), as produce_and_wait does.
    int flush();

    /// Serves delivery reports and errors for at most `timeout`; returns the number of events served.
    int poll(std::chrono::milliseconds timeout = std::chrono::milliseconds{0});

    /// Messages queued or in flight; 0 once close() began (close() reports what it could not deliver).
    std::size_t pending_messages() const;

    /// Sends {"type": "ping", sub, scope, host, timestamp} and waits for its delivery, at most `timeout`.
    /// Default topic: the producer's topic, else "<instance>.test". Raises KafkaConnectionError or
    /// KafkaAuthenticationError within the timeout.
    PingResult ping(std::optional<std::string> topic = std::nullopt,
                    std::chrono::milliseconds timeout = std::chrono::seconds{10});

    /// Flushes first (at most `timeout`, whatever error is pending), purges only what is still queued at the
    /// deadline, releases the client, then reports: KafkaMessageDeliveryError naming what was not delivered
    /// (code purged, or the first failure's) and, in the same message, the pending error; or the pending
    /// error alone. Never waits much longer than `timeout`. Idempotent; once it began, produce() from any
    /// thread raises KafkaProducerError (client_closed), and a poll() or flush() running in another thread
    /// ends with that error (close() waits for it, waking it). A close() from a second thread returns when
    /// the first has finished. Not from inside an on_delivery of this producer (it would wait for itself).
    void close(std::chrono::milliseconds timeout = std::chrono::seconds{30});

    /// The instance name topics are namespaced with.
    const std::string& instance_name() const;
    /// The namespaced topic of a pipeline ("gstlal" -> "<instance>.gstlal").
    std::string topic_for(std::string_view pipeline) const;
    /// The producer's default pipeline, if any (not namespaced).
    const std::optional<std::string>& default_topic() const;
    /// ProducerOptions::flush_timeout: how long the destructor flushes.
    std::chrono::milliseconds flush_timeout() const;
    /// Claims of the token in use (empty when the protocol needs none).
    std::optional<TokenClaims> token_claims() const;
    /// How many times a renewed token was picked up from disk.
    std::uint64_t token_refresh_count() const;
    /// How many times the producer healed: librdkafka raised a fatal error (before 2.3.0 it does so after
    /// some leader failovers: "rewound sequence number", its issue #3584), and the producer, in the next call
    /// of the application (never in a librdkafka thread), reported every message it held (failed unless
    /// delivered: through on_delivery, or raised by flush()/close() as KafkaMessageDeliveryError), replaced
    /// its librdkafka client by a new one with the same settings, and went on; each heal is logged as a
    /// warning. Requests in flight are given 3 s (flush_timeout if shorter) for their answer, then purged
    /// (reported failed, possibly persisted); calls of other threads wait while it heals. A produce() from inside an on_delivery may still raise the fatal error (producer_fatal)
    /// when it meets it first. Thread-safe.
    std::uint64_t heal_count() const;

private:
    friend struct detail_producer_peer;  // the library's internal tests only; not part of the API
    struct Impl;
    void produce_json(const nlohmann::json& value, ProduceOptions options);
    Impl& impl() const;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gracedb::kafka
