// gracedb::kafka::Producer: the spec's GraceDbKafkaProducer. SciToken authentication (SASL OAUTHBEARER over
// TLS), topic namespacing, guaranteed delivery, ping.
#pragma once

#include <gracedb/export.hpp>

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

/// The outcome of one message. `error` empty: delivered at `partition`/`offset`.
struct GRACEDB_EXPORT DeliveryReport {
    std::string topic{};
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    std::optional<std::string> key{};
    std::optional<std::string> error{};
};

struct GRACEDB_EXPORT PingResult {
    std::string topic{};
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    nlohmann::json message{};
};

/// Field names and order follow the Python keyword arguments. Exactly one of instance_name / service_url.
struct GRACEDB_EXPORT ProducerOptions {
    std::string bootstrap_servers{};
    std::optional<std::string> topic{};          // default pipeline, namespaced for you
    std::optional<std::string> instance_name{};
    std::optional<std::string> service_url{};
    bool use_ssl = true;                         // false: SASL_PLAINTEXT (the token travels in clear text)
    std::optional<std::string> ca_cert_path{};
    bool skip_hostname_verification = false;
    std::string token_scope = "kafka.produce";
    std::optional<std::string> token_audience{};  // default: the first broker's host name
    bool reload_cred = true;
    std::chrono::milliseconds reload_buffer = std::chrono::seconds{300};
    std::chrono::milliseconds flush_timeout = std::chrono::seconds{10};
    bool guaranteed_delivery = true;
    std::map<std::string, std::string> kafka_config{};  // passed to librdkafka, wins over our defaults
};

/// Python: produce(value, topic, key, headers, partition, on_delivery).
struct GRACEDB_EXPORT ProduceOptions {
    std::optional<std::string> topic{};  // pipeline name, namespaced for you; default: the producer's topic
    std::optional<std::string> key{};
    std::vector<std::pair<std::string, std::string>> headers{};
    std::optional<std::int32_t> partition{};
    /// Runs on the thread that calls produce(), flush(), poll() or close(). An exception it throws is
    /// rethrown from that call.
    std::function<void(const DeliveryReport&)> on_delivery{};
};

/// Move-only; the destructor closes with `flush_timeout`, never throws, and logs what was left undelivered.
/// produce() may be called from several threads; flush(), poll(), ping() and close() from one at a time.
class GRACEDB_EXPORT Producer {
public:
    /// Throws std::invalid_argument for bad options (both or neither of instance_name/service_url, an
    /// unknown librdkafka key or bad value, kafka_config contradicting guaranteed_delivery) and
    /// KafkaTokenError when SASL is used and no usable token exists.
    explicit Producer(ProducerOptions options);
    ~Producer();
    Producer(Producer&&) noexcept;
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

    /// Produces one message and waits for its own delivery report (not for everything queued), at most
    /// `timeout`. Returns the report; a report with `error` set means it was not delivered. A timeout gives a
    /// report whose error says so (the message may still be delivered later).
    DeliveryReport produce_and_wait(std::string_view value, ProduceOptions options,
                                    std::chrono::milliseconds timeout);

    /// Waits until everything queued is delivered or failed, at most `timeout`; returns how many are still
    /// queued. Raises KafkaMessageDeliveryError for failed messages that had no on_delivery,
    /// KafkaAuthenticationError for an authentication failure, KafkaConnectionError when it timed out while
    /// no broker was reachable.
    int flush(std::chrono::milliseconds timeout);
    /// flush() with no argument waits until the queue is empty.
    int flush();

    /// Serves delivery reports and errors for at most `timeout`; returns the number of events served.
    int poll(std::chrono::milliseconds timeout = std::chrono::milliseconds{0});

    /// Messages queued or in flight.
    std::size_t pending_messages() const;

    /// Sends {"type": "ping", sub, scope, host, timestamp} and waits for its delivery, at most `timeout`.
    /// Default topic: the producer's topic, else "<instance>.test". Raises KafkaConnectionError or
    /// KafkaAuthenticationError within the timeout.
    PingResult ping(std::optional<std::string> topic = std::nullopt,
                    std::chrono::milliseconds timeout = std::chrono::seconds{10});

    /// Flushes (at most `timeout`), reports what could not be delivered (KafkaMessageDeliveryError), and
    /// releases the client. Idempotent; later produce() raises KafkaProducerError.
    void close(std::chrono::milliseconds timeout = std::chrono::seconds{30});

    /// The instance name topics are namespaced with.
    const std::string& instance_name() const;
    /// The namespaced topic of a pipeline ("gstlal" -> "<instance>.gstlal").
    std::string topic_for(std::string_view pipeline) const;
    /// The producer's default pipeline, if any (not namespaced).
    const std::optional<std::string>& default_topic() const;
    std::chrono::milliseconds flush_timeout() const;
    /// Claims of the token in use (empty when the protocol needs none).
    std::optional<TokenClaims> token_claims() const;
    /// How many times a renewed token was picked up from disk.
    std::uint64_t token_refresh_count() const;

private:
    struct Impl;
    void produce_json(const nlohmann::json& value, ProduceOptions options);
    Impl& impl() const;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gracedb::kafka
