// Private: the one place tokens come from. Discovery, matching, caching, proactive re-reads with back-off.
// Used by SciTokenRefreshManager, the Kafka producer and consumer, and the REST client.
#pragma once

#include <gracedb/error.hpp>
#include <gracedb/scitoken.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

namespace gracedb::detail {

/// No usable token: the message lists the places looked at (never a token). `code()`: token_not_found when
/// no place held anything, token_unusable when a token was found but expired, malformed or not for us.
class NoUsableToken : public std::runtime_error {
public:
    explicit NoUsableToken(const std::string& what, Errc code = Errc::token_unusable)
        : std::runtime_error{what}, code_{code} {}
    Errc code() const noexcept { return code_; }

private:
    Errc code_;
};

class TokenProvider {
public:
    using Clock = std::chrono::system_clock;

    struct Token {
        std::string token;
        TokenClaims claims;
        Clock::time_point expiry;
    };

    /// Discovers the first token at once (throws NoUsableToken). With `reload` false it is never re-read.
    /// `what_for` names the use in messages, e.g. "Kafka (kafka.produce)".
    TokenProvider(TokenRequirements requirements, std::chrono::milliseconds refresh_buffer, bool reload,
                  std::string what_for);

    /// The token to use now, re-read from disk first when due. Throws NoUsableToken when the last good token
    /// has expired and no renewed one was found.
    Token current();

    /// The server refused the token: re-read it from disk at the next current() (when reload is on), so that a
    /// token renewed on disk is used without waiting for the old one's expiry.
    void recheck_soon();

    /// When the next re-read is due (far future when reload is off).
    Clock::time_point next_refresh() const;
    TokenClaims claims() const;
    std::uint64_t refresh_count() const;
    bool reloads() const { return reload_; }
    const TokenRequirements& requirements() const { return requirements_; }

private:
    void adopt(FoundToken found, Clock::time_point now);
    void try_reload(Clock::time_point now);
    std::string no_token_message(const TokenSearch& search) const;

    const TokenRequirements requirements_;
    const std::chrono::milliseconds buffer_;
    const bool reload_;
    const std::string what_for_;

    mutable std::mutex mutex_;
    FoundToken token_;
    Clock::time_point expiry_{};
    Clock::time_point next_due_{};
    std::chrono::milliseconds backoff_{0};
    std::uint64_t refreshes_ = 0;
    bool refused_ = false;  // recheck_soon(): the server refused the current token; any other one will do
    std::string last_failure_;
};

}  // namespace gracedb::detail
