#include "fakejwt.hpp"

#include <openssl/evp.h>

#include "testrig.hpp"

namespace gracedb::testing {

std::string base64url_encode(const std::string& bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}

std::string fake_jwt(const nlohmann::json& claims) {
    return base64url_encode(R"({"alg":"RS256","typ":"JWT","kid":"k"})") + "." + base64url_encode(claims.dump()) +
           ".c2lnbmF0dXJlLW5vdC1jaGVja2VkLWJ5LWNsaWVudHM";
}

nlohmann::json claims_for(const std::string& aud, const std::string& scope, long lifetime_s, const std::string& sub) {
    const auto now = now_seconds();
    return {{"iss", "https://issuer.example"}, {"sub", sub},        {"aud", aud},
            {"scope", scope},                  {"iat", now - 10},   {"exp", now + lifetime_s},
            {"ver", "scitoken:2.0"}};
}

}  // namespace gracedb::testing
