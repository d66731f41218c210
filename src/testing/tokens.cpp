// Test SciTokens: RS256 signing keys, minted tokens and the JWKS that verifies them (libjwt + OpenSSL).
#include <gracedb/testing/tokens.hpp>

#include <jwt.h>
#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <random>
#include <stdexcept>
#include <string_view>

#include "common/base64.hpp"
#include "common/openssl.hpp"

namespace gracedb::testing {
namespace {

// base64url without padding (JWK members), from the one base64 encoder of the project.
std::string base64url(std::string_view bytes) {
    std::string out = detail::base64_encode(bytes);
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}

// What libjwt hands over: its token object, and strings to release with free().
struct JwtDeleter {
    void operator()(jwt_t* p) const noexcept { jwt_free(p); }
    void operator()(char* p) const noexcept { std::free(p); }
};

std::string bn_base64url(const EVP_PKEY* key, const char* name) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) throw std::runtime_error("jwks: key has no RSA parameter");
    const detail::BigNum bn{raw};
    std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn.get())), '\0');
    BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(bytes.data()));
    return base64url(bytes);
}

}  // namespace

std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string mint_token(const std::string& private_key_pem, const TokenSpec& spec) {
    nlohmann::json claims = nlohmann::json::object();
    if (!spec.iss.empty()) claims["iss"] = spec.iss;
    claims["sub"] = spec.sub;
    if (spec.aud.size() == 1) claims["aud"] = spec.aud.front();
    if (spec.aud.size() > 1) claims["aud"] = spec.aud;
    if (spec.scope) claims["scope"] = *spec.scope;
    if (spec.exp) claims["exp"] = *spec.exp;
    if (spec.iat) claims["iat"] = *spec.iat;
    if (spec.nbf) claims["nbf"] = *spec.nbf;
    if (spec.ver) claims["ver"] = *spec.ver;
    static std::atomic<unsigned> counter{0};
    static const unsigned salt = std::random_device{}();
    claims["jti"] = std::to_string(now_seconds()) + "-" + std::to_string(salt) + "-" + std::to_string(++counter);

    jwt_t* raw = nullptr;
    if (jwt_new(&raw) != 0) throw std::runtime_error("mint_token: jwt_new failed");
    std::unique_ptr<jwt_t, JwtDeleter> jwt{raw};
    if (jwt_add_grants_json(jwt.get(), claims.dump().c_str()) != 0)
        throw std::runtime_error("mint_token: cannot add claims");
    if (jwt_add_header(jwt.get(), "kid", spec.kid.c_str()) != 0)
        throw std::runtime_error("mint_token: cannot add kid");
    if (jwt_set_alg(jwt.get(), JWT_ALG_RS256, reinterpret_cast<const unsigned char*>(private_key_pem.data()),
                    static_cast<int>(private_key_pem.size())) != 0)
        throw std::runtime_error("mint_token: the key is not a usable RS256 private key");
    std::unique_ptr<char, JwtDeleter> encoded{jwt_encode_str(jwt.get())};
    if (!encoded) throw std::runtime_error("mint_token: signing failed");
    return encoded.get();
}

std::string jwks_for(const std::string& private_key_pem, const std::string& kid) {
    const detail::Bio bio{BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size()))};
    const detail::EvpPkey key{PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)};
    if (!key) throw std::runtime_error("jwks: cannot read the private key");
    nlohmann::json jwk = {{"kty", "RSA"},
                          {"use", "sig"},
                          {"alg", "RS256"},
                          {"kid", kid},
                          {"n", bn_base64url(key.get(), OSSL_PKEY_PARAM_RSA_N)},
                          {"e", bn_base64url(key.get(), OSSL_PKEY_PARAM_RSA_E)}};
    return nlohmann::json{{"keys", nlohmann::json::array({jwk})}}.dump(2);
}

std::string make_signing_key() {
    const detail::EvpPkey key{EVP_RSA_gen(2048)};
    if (!key) throw std::runtime_error("make_signing_key: RSA key generation failed");
    const detail::Bio bio{BIO_new(BIO_s_mem())};
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        throw std::runtime_error("make_signing_key: cannot write the key as PEM");
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace gracedb::testing
