// gracedb::Error: the root of every exception this library throws (bad arguments aside, which are
// std::invalid_argument as Python's ValueError). Each carries:
//   - code():           what went wrong, machine-readable (gracedb::Errc, below);
//   - rdkafka_error():  librdkafka's error name when librdkafka reported the cause ("_AUTHENTICATION",
//                       "TOPIC_AUTHORIZATION_FAILED", "_MSG_TIMED_OUT", ...), empty otherwise;
//   - fatal():          the client that threw is unusable: destroy it and build a new one (e.g. the idempotent
//                       producer's fatal error). Every later call on it throws the same error;
//   - retriable():      the same operation may succeed if tried again later (a timeout, a broker that is
//                       down, a throttled or unavailable server); false when retrying cannot help (a refused
//                       token, a bad certificate, a message too large, an HTTP 400).
// The Kafka tree (KafkaError, ...) and the REST tree (GraceDbError, ...) both derive from it.
#pragma once

#include <gracedb/export.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace gracedb {

/// What went wrong, machine-readable: Error::code(). Stable names (to_string(Errc)) for logs and Python.
enum class Errc {
    unknown = 0,  ///< No more precise code applies (see the message).
    // Configuration and usage
    invalid_configuration,     ///< a setting librdkafka or we refuse
    client_closed,             ///< a call after close() began
    // Tokens and authentication
    token_not_found,           ///< no SciToken where discovery looked
    token_unusable,            ///< found, but malformed, expired, or not for this audience or scope
    authentication_failed,     ///< the broker (or server) refused our credentials
    authorization_failed,      ///< authenticated, but not allowed this topic / group / operation
    // Transport
    connection_failed,         ///< no broker or server could be reached (refused, DNS, all brokers down)
    tls_failed,                ///< TLS handshake or certificate verification failed
    timed_out,                 ///< the operation did not finish within its timeout
    // Producer
    message_too_large,         ///< over message.max.bytes (ours or the broker's), or max_response_bytes
    queue_full,                ///< the local queue stayed full for the whole timeout
    delivery_failed,           ///< a message accepted earlier was not delivered (see rdkafka_error())
    purged,                    ///< a message still queued when close() gave up on it
    producer_fatal,            ///< librdkafka's fatal error (idempotence guarantees broken): fatal()
    // Consumer
    consumer_failed,           ///< subscribe/poll/commit failed
    consumer_fatal,            ///< librdkafka's fatal consumer error: fatal()
    // Callbacks
    callback_failed,           ///< an application callback (on_delivery...) threw; rethrown on the next call
    // HTTP (REST client)
    http_status,               ///< the server answered a final 4xx/5xx: HTTPError::status()
    credential_unusable,       ///< an X.509 file that cannot be read, a SciToken that expired
    insecure_transport,        ///< a token would be sent over clear text without being allowed to
};

/// "token_not_found", ... (the enumerator's name).
GRACEDB_EXPORT std::string_view to_string(Errc code) noexcept;

/// The root of every exception this library throws (bad arguments aside: std::invalid_argument). The
/// message (what()) says what failed, with what input, and what to do; never a token.
class GRACEDB_EXPORT Error : public std::runtime_error {
public:
    /// `what`: the message; `code`: the kind; `rdkafka_error`: librdkafka's error name when it reported the
    /// cause; `fatal`: the client that throws is unusable; `retriable`: trying again later may succeed.
    explicit Error(const std::string& what, Errc code = Errc::unknown, std::string rdkafka_error = {},
                   bool fatal = false, bool retriable = false);
    ~Error() override;
    /// What went wrong, machine-readable.
    Errc code() const noexcept { return code_; }
    /// librdkafka's error name ("_AUTHENTICATION", "TOPIC_AUTHORIZATION_FAILED", ...) when librdkafka
    /// reported the cause; empty otherwise.
    const std::string& rdkafka_error() const noexcept { return rdkafka_error_; }
    /// The client that threw is unusable (e.g. the idempotent producer's fatal error): destroy it and build
    /// a new one. Every later call on it throws the same error.
    bool fatal() const noexcept { return fatal_; }
    /// The same operation may succeed if tried again later (a timeout, a broker down, a throttled or
    /// unavailable server); false when retrying cannot help (a refused token, a bad certificate, a 400).
    bool retriable() const noexcept { return retriable_; }

private:
    Errc code_;
    std::string rdkafka_error_;
    bool fatal_;
    bool retriable_;
};

}  // namespace gracedb
