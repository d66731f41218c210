// Test support: a GraceDB stand-in on loopback that checks tokens, and the tokens it accepts (signed with a
// test key as key id "k1", audience https://localhost).
#pragma once

#include <gracedb/testing/standin.hpp>
#include <gracedb/testing/tokens.hpp>

#include <chrono>
#include <string>

namespace gracedb::testing {

/// The audience a stand-in on loopback checks (gracedb_token_audience of its https://localhost URL).
inline const std::string kStandInAudience = "https://localhost";

/// Options of a stand-in that accepts tokens signed with `signing_key` (PEM) for kStandInAudience.
inline StandInOptions checking_standin(const std::string& signing_key) {
    return {.jwks = jwks_for(signing_key, "k1"), .audience = kStandInAudience};
}

/// The claims of a token such a stand-in accepts: `sub`, valid from now for `lifetime`.
inline TokenSpec standin_token_spec(const std::string& sub = "pipeline",
                                    std::chrono::seconds lifetime = std::chrono::seconds{600}) {
    TokenSpec spec;
    spec.sub = sub;
    spec.aud = {kStandInAudience};
    spec.kid = "k1";
    spec.iat = now_seconds();
    spec.exp = now_seconds() + lifetime.count();
    return spec;
}

}  // namespace gracedb::testing
