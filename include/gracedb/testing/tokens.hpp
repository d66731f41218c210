// gracedb::testing: SciTokens for tests. Mint RS256 tokens with the claims you choose and publish the
// matching JWKS to whatever verifies them (the stand-in's StandInOptions::jwks, a Kafka broker's JWKS file).
// Test code only: these keys and tokens protect nothing.
#pragma once

#include <gracedb/testing/export.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gracedb::testing {

/// The claims of a test SciToken. Times are seconds since the epoch; unset ones are left out of the token.
struct TokenSpec {
    std::string iss{};               ///< The issuer ("iss").
    std::string sub = "pipeline";    ///< The subject ("sub").
    std::vector<std::string> aud{};  ///< one entry: "aud" is a string; several: a list; none: no "aud"
    std::optional<std::string> scope = "kafka.produce kafka.consume gracedb.read";  ///< "scope"
    std::optional<std::int64_t> exp{};  ///< Expiry ("exp").
    std::optional<std::int64_t> iat{};  ///< Issued at ("iat").
    std::optional<std::int64_t> nbf{};  ///< Not before ("nbf").
    std::optional<std::string> ver = "scitoken:2.0";  ///< "ver"
    std::string kid = "rig-key-1";   ///< The key id in the JWT header (matches jwks_for's `kid`).
};

/// Seconds since the epoch, now.
GRACEDB_TESTING_EXPORT std::int64_t now_seconds();

/// A new 2048-bit RSA private key, PEM (PKCS#8). Throws std::runtime_error if OpenSSL cannot make one.
GRACEDB_TESTING_EXPORT std::string make_signing_key();

/// Signs `spec` with RS256 using the PEM private key `private_key_pem`; returns the compact JWT.
/// Throws std::runtime_error when the key is not a usable RSA private key.
GRACEDB_TESTING_EXPORT std::string mint_token(const std::string& private_key_pem, const TokenSpec& spec);

/// The JSON Web Key Set (one RSA key, use "sig", alg RS256, `kid`) of the public half of `private_key_pem`.
GRACEDB_TESTING_EXPORT std::string jwks_for(const std::string& private_key_pem, const std::string& kid);

}  // namespace gracedb::testing
