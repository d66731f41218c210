// SciTokens (JWTs) as the client sees them: WLCG bearer-token discovery and the claims that decide whether a
// token fits a use (audience, scope, expiry). No signature is checked here: the server does that.
// Shared by the Kafka classes and the REST client. A token is a secret: nothing here prints it.
#pragma once

#include <gracedb/export.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gracedb {

/// The claims of a JWT that matter to a client.
struct GRACEDB_EXPORT TokenClaims {
    std::string iss{};               ///< The issuer.
    std::string sub{};               ///< The subject (who the token names).
    std::vector<std::string> aud{};  ///< "aud" as a string becomes a list of one
    std::string scope{};             ///< space-separated
    std::optional<std::chrono::system_clock::time_point> exp{};  ///< Expiry, if the token has one.
    std::optional<std::chrono::system_clock::time_point> iat{};  ///< Issued at, if present.
    std::optional<std::chrono::system_clock::time_point> nbf{};  ///< Not before, if present.
    std::string ver{};               ///< The token's version claim ("scitoken:2.0").

    /// True when `aud` holds `audience`, "ANY", or the WLCG "any" URI (https://wlcg.cern.ch/jwt/v1/any).
    bool has_audience(std::string_view audience) const;
    /// True when one space-separated scope is exactly `scope`, or `scope` followed by ":" and a path
    /// ("kafka.produce" matches "kafka.produce" and "kafka.produce:/x", never "kafka.producer").
    bool has_scope(std::string_view scope) const;
    /// "sub=..., scope=..., exp=<UTC time>" for logs and messages.
    std::string describe() const;
};

/// Reads the claims of a compact JWT (three base64url parts). Throws std::invalid_argument saying what is
/// malformed (never quoting the token): not three parts, bad base64url, payload not a JSON object, or a
/// time claim that is not a number. Time claims saturate to [1970-01-01, 2200-01-01] (the clock holds no more;
/// exp=9999999999, a common "never", reads as 2200).
GRACEDB_EXPORT TokenClaims parse_token_claims(std::string_view jwt);

/// A short, non-reversible fingerprint of a token (first 8 hex digits of its SHA-256), safe to log.
GRACEDB_EXPORT std::string token_fingerprint(std::string_view token);

/// What a use needs of a token.
struct GRACEDB_EXPORT TokenRequirements {
    std::string audience{};  ///< The audience the token must carry (see TokenClaims::has_audience).
    std::string scope{};     ///< The scope it must grant (see TokenClaims::has_scope).
};

/// A token found by discovery. Print `describe()`, never `token`.
struct GRACEDB_EXPORT FoundToken {
    std::string token{};   ///< The compact JWT: a secret, never print or log it.
    TokenClaims claims{};  ///< Its claims.
    std::string source{};  ///< "$BEARER_TOKEN", or the file it was read from
    bool matches = false;  ///< audience and scope fit the requirements

    std::string describe() const;  ///< source, claims and fingerprint
};

/// One place discovery looked at, and what it found there ("unset", "missing", "empty", "malformed: ...",
/// "expired at ...", "audience [...] lacks X", "usable", ...).
struct GRACEDB_EXPORT TokenPlace {
    std::string place{};    ///< "$BEARER_TOKEN", "$BEARER_TOKEN_FILE", or a file's path.
    std::string finding{};  ///< What was there ("unset", "missing", "usable", ...).
};

/// The outcome of WLCG bearer-token discovery.
struct GRACEDB_EXPORT TokenSearch {
    std::optional<FoundToken> token{};  ///< the token to use, if any
    std::vector<TokenPlace> places{};   ///< every place looked at, in order

    /// "looked in $BEARER_TOKEN (unset), $BEARER_TOKEN_FILE (unset), /run/user/1000/bt_u1000 (missing), ..."
    std::string describe_places() const;
};

/// WLCG bearer-token discovery: $BEARER_TOKEN (the token), $BEARER_TOKEN_FILE (a path), then
/// `$XDG_RUNTIME_DIR/bt_u<euid>` when XDG_RUNTIME_DIR is set, else `/tmp/bt_u<euid>`. Whitespace around a
/// token is stripped; an empty value means "go on". The first token whose audience and scope fit and which
/// has not expired wins. If none fits, the first place holding a JWT with a numeric exp that has not expired
/// is used with `matches == false` (the Python client's fallback: the server has the last word). Expired,
/// malformed and exp-less tokens are never returned. Never throws for what it finds; see `places`.
GRACEDB_EXPORT TokenSearch find_scitoken(const TokenRequirements& requirements,
                          std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace gracedb
