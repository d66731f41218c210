// gracedb::kafka::Connection: where the brokers are and how to authenticate to them, the fields
// ProducerOptions and ConsumerOptions share, converted to and from either in one place.
#pragma once

#include <gracedb/export.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace gracedb::kafka {

struct ProducerOptions;
struct ConsumerOptions;

/// The connection and authentication options of a producer or a consumer (the same names, meanings and
/// defaults as in ProducerOptions and ConsumerOptions, which keep their own fields). Build one connection
/// (from the command line, a configuration file, another client's options) and apply it to the options of
/// every client that talks to the same brokers:
///
///     kafka::Connection c{.bootstrap_servers = "kafka.ligo.org:9092", .service_url = url};
///     kafka::ProducerOptions po;
///     c.apply_to(po);
///     auto dead_letters = kafka::Connection::from(consumer_options);  // the same brokers, TLS and token
struct GRACEDB_EXPORT Connection {
    /// The brokers, "host:port[,host:port...]" (librdkafka's bootstrap.servers).
    std::string bootstrap_servers{};
    /// The instance topics are namespaced with ("gracedb-dev"); or give service_url.
    std::optional<std::string> instance_name{};
    /// The GraceDB service URL; its host's first label is the instance (derive_instance_name).
    std::optional<std::string> service_url{};
    bool use_ssl = true;  ///< false: SASL_PLAINTEXT (the token travels in clear text).
    /// A PEM file of CA certificates that verify the brokers (ssl.ca.location); default: the system's.
    std::optional<std::string> ca_cert_path{};
    /// Accept a broker certificate for another host name (logged as a warning; for tests only).
    bool skip_hostname_verification = false;
    /// The scope the Kafka token must grant; none: the client's own default (kafka.produce for a producer,
    /// kafka.consume for a consumer), which apply_to() then leaves as it is.
    std::optional<std::string> token_scope{};
    /// The audience the Kafka token must carry; default: the first broker's host name.
    std::optional<std::string> token_audience{};
    /// Re-read the token from disk before it expires; false: use the first one until its exp.
    bool reload_cred = true;
    /// How long before the token's exp it is re-read from disk.
    std::chrono::milliseconds reload_buffer = std::chrono::seconds{300};

    /// The connection fields of producer options (token_scope always set).
    static Connection from(const ProducerOptions& options);
    /// The connection fields of consumer options (token_scope always set).
    static Connection from(const ConsumerOptions& options);
    /// Sets the connection fields of `options` to these (token_scope only when set); the other fields
    /// (topics, flush_timeout, kafka_config, ...) stay as they are.
    void apply_to(ProducerOptions& options) const;
    /// Sets the connection fields of `options` to these (token_scope only when set); the other fields stay.
    void apply_to(ConsumerOptions& options) const;

    /// Field by field.
    bool operator==(const Connection&) const = default;
};

}  // namespace gracedb::kafka
