// SciToken authentication for Kafka (SASL OAUTHBEARER): the spec's "Authentication" and "Token reloading".
#pragma once

#include <gracedb/export.hpp>

#include <gracedb/scitoken.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace gracedb::detail {
class TokenProvider;
}

namespace gracedb::kafka {

/// What an OAUTHBEARER client hands to the broker: the token, when it stops being valid, and who it names.
struct GRACEDB_EXPORT OAuthToken {
    std::string token;                             ///< The compact JWT (a secret: never log it).
    std::chrono::system_clock::time_point expiry;  ///< The token's `exp`.
    std::string principal;                         ///< The token's `sub`.
};

/// Called by a Kafka client for a token; the argument is the client's sasl.oauthbearer.config string.
/// Throws KafkaTokenError when no usable token exists.
using OAuthCallback = std::function<OAuthToken(std::string_view oauthbearer_config)>;

/// The audience a Kafka token must carry when none is given: the first broker's host name
/// ("kafka-dev.ligo.org:9092,other:9092" -> "kafka-dev.ligo.org").
GRACEDB_EXPORT std::string default_kafka_audience(std::string_view bootstrap_servers);

/// Discovers a SciToken for Kafka (see gracedb::find_scitoken): one whose audience (default: the broker's
/// host name) and scope fit, else, with a warning in the log, the first unexpired JWT found.
/// Throws KafkaTokenError listing every place looked at and what was there (never the token).
GRACEDB_EXPORT std::string get_scitoken_for_kafka(std::string_view broker_url, std::string_view scope = "kafka.produce",
                                   std::optional<std::string> audience = std::nullopt);

/// A callback that discovers a token on every call (no caching), with the token's exp as expiry.
GRACEDB_EXPORT OAuthCallback create_oauth_callback(std::string_view broker_url, std::string_view scope = "kafka.produce",
                                    std::optional<std::string> audience = std::nullopt);

/// Keeps a long-running client supplied with a valid token: it re-reads the token from disk
/// `refresh_buffer` before its exp (a token that lives less than that: at 80% of its lifetime, at most once
/// a second), so that a token renewed on disk by another process is picked up without a restart. A failed
/// re-read keeps the last good token until it expires and retries with back-off (1 s doubling to 30 s).
/// Thread-safe: librdkafka's background thread and the application may call it at once.
class GRACEDB_EXPORT SciTokenRefreshManager {
public:
    /// Discovers the first token now; throws KafkaTokenError if there is none.
    explicit SciTokenRefreshManager(std::string broker_url, std::string scope = "kafka.produce",
                                    std::optional<std::string> audience = std::nullopt,
                                    std::chrono::milliseconds refresh_buffer = std::chrono::seconds{300});
    ~SciTokenRefreshManager();
    /// Moves the shared state; callbacks made from it keep working.
    SciTokenRefreshManager(SciTokenRefreshManager&&) noexcept;
    /// Moves the shared state; callbacks made from it keep working.
    SciTokenRefreshManager& operator=(SciTokenRefreshManager&&) noexcept;

    /// The current token, re-read first when due. Throws KafkaTokenError once nothing valid is left.
    std::string get_token();
    /// The same as an OAuthToken (expiry = the token's exp, principal = its sub).
    OAuthToken get_oauth_token();
    /// A callback sharing this manager's state (it stays valid after the manager is destroyed).
    OAuthCallback create_callback();

    /// The claims of the current token (sub, scope, exp...), for logs and pings.
    TokenClaims claims() const;
    /// When the next re-read from disk is due.
    std::chrono::system_clock::time_point next_refresh() const;
    /// How many times a renewed token was picked up.
    std::uint64_t refresh_count() const;

private:
    std::shared_ptr<detail::TokenProvider> provider_;
};

}  // namespace gracedb::kafka
