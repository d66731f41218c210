// Test support: unsigned JWT-shaped strings with chosen claims (the client never checks signatures).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace gracedb::testing {

std::string base64url_encode(const std::string& bytes);

/// "<header>.<payload>.<fake signature>" with the given claims as payload.
std::string fake_jwt(const nlohmann::json& claims);

/// Claims of a token valid for `lifetime_s` seconds from now, for audience `aud` and `scope`.
nlohmann::json claims_for(const std::string& aud, const std::string& scope, long lifetime_s,
                          const std::string& sub = "pipeline");

}  // namespace gracedb::testing
