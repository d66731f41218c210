#include "testrig.hpp"

#include <jwt.h>
#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace gracedb::testing {
namespace {

std::string base64url(const unsigned char* data, std::size_t n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
    out.resize(static_cast<std::size_t>(len));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}

struct PkeyDeleter {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
    void operator()(BIO* p) const noexcept { BIO_free(p); }
    void operator()(BIGNUM* p) const noexcept { BN_free(p); }
    void operator()(jwt_t* p) const noexcept { jwt_free(p); }
    void operator()(char* p) const noexcept { std::free(p); }
};

std::string bn_base64url(const EVP_PKEY* key, const char* name) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) throw std::runtime_error("jwks: key has no RSA parameter");
    std::unique_ptr<BIGNUM, PkeyDeleter> bn{raw};
    std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn.get())), '\0');
    BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(bytes.data()));
    return base64url(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
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
    claims["jti"] = std::to_string(now_seconds()) + "-" + std::to_string(std::rand());

    jwt_t* raw = nullptr;
    if (jwt_new(&raw) != 0) throw std::runtime_error("mint_token: jwt_new failed");
    std::unique_ptr<jwt_t, PkeyDeleter> jwt{raw};
    if (jwt_add_grants_json(jwt.get(), claims.dump().c_str()) != 0)
        throw std::runtime_error("mint_token: cannot add claims");
    if (jwt_add_header(jwt.get(), "kid", spec.kid.c_str()) != 0)
        throw std::runtime_error("mint_token: cannot add kid");
    if (jwt_set_alg(jwt.get(), JWT_ALG_RS256, reinterpret_cast<const unsigned char*>(private_key_pem.data()),
                    static_cast<int>(private_key_pem.size())) != 0)
        throw std::runtime_error("mint_token: the key is not a usable RS256 private key");
    std::unique_ptr<char, PkeyDeleter> encoded{jwt_encode_str(jwt.get())};
    if (!encoded) throw std::runtime_error("mint_token: signing failed");
    return encoded.get();
}

std::string jwks_for(const std::string& private_key_pem, const std::string& kid) {
    std::unique_ptr<BIO, PkeyDeleter> bio{BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size()))};
    std::unique_ptr<EVP_PKEY, PkeyDeleter> key{PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)};
    if (!key) throw std::runtime_error("jwks: cannot read the private key");
    nlohmann::json jwk = {{"kty", "RSA"},
                          {"use", "sig"},
                          {"alg", "RS256"},
                          {"kid", kid},
                          {"n", bn_base64url(key.get(), OSSL_PKEY_PARAM_RSA_N)},
                          {"e", bn_base64url(key.get(), OSSL_PKEY_PARAM_RSA_E)}};
    return nlohmann::json{{"keys", nlohmann::json::array({jwk})}}.dump(2);
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in{path, std::ios::binary};
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_secret_file(const std::filesystem::path& path, const std::string& contents) {
    auto tmp = path;
    tmp += ".tmp";
    {
        std::ofstream out{tmp, std::ios::binary | std::ios::trunc};
        if (!out) throw std::runtime_error("cannot write " + tmp.string());
        out << contents;
    }
    ::chmod(tmp.c_str(), 0600);
    std::filesystem::rename(tmp, path);
}

const Rig& Rig::get() {
    static const Rig rig = [] {
        const char* env = std::getenv("GRACEDB_RIG_ENV");
        if (!env || !*env)
            throw std::runtime_error(
                "GRACEDB_RIG_ENV is not set: the integration tests need the real Kafka broker of the test rig. "
                "Run them through ctest (its fixture starts the broker), or start it with "
                "tests/rig/kafka-rig.sh start <dir> and export GRACEDB_RIG_ENV=<dir>/rig.env");
        std::ifstream in{env};
        if (!in)
            throw std::runtime_error(std::string{"the test rig's file "} + env +
                                     " is missing: did the broker fixture (rig_start) fail? See its log.");
        std::map<std::string, std::string> kv;
        for (std::string line; std::getline(in, line);) {
            auto eq = line.find('=');
            if (eq != std::string::npos && line[0] != '#') kv[line.substr(0, eq)] = line.substr(eq + 1);
        }
        auto need = [&](const char* k) {
            auto it = kv.find(k);
            if (it == kv.end()) throw std::runtime_error(std::string{"rig.env lacks "} + k);
            return it->second;
        };
        Rig r;
        r.sasl_bootstrap = need("RIG_SASL_BOOTSTRAP");
        r.plain_bootstrap = need("RIG_PLAIN_BOOTSTRAP");
        r.ca_file = need("RIG_CA");
        r.other_ca_file = need("RIG_OTHER_CA");
        r.issuer = need("RIG_ISSUER");
        r.audience = need("RIG_AUDIENCE");
        r.key_file = need("RIG_KEY");
        r.kid = need("RIG_KID");
        r.other_key_file = need("RIG_OTHER_KEY");
        r.dir = need("RIG_DIR");
        r.script = need("RIG_SCRIPT");
        r.allowed_prefix = need("RIG_ALLOWED_PREFIX");
        r.denied_topic = need("RIG_DENIED_TOPIC");
        return r;
    }();
    return rig;
}

std::string Rig::token(TokenSpec spec, std::chrono::seconds lifetime) const {
    const auto now = now_seconds();
    if (spec.iss.empty()) spec.iss = issuer;
    if (spec.aud.empty()) spec.aud = {audience};
    if (!spec.iat) spec.iat = now - 60;
    if (!spec.exp) spec.exp = now + lifetime.count();
    spec.kid = kid;
    return mint_token(read_file(key_file), spec);
}

}  // namespace gracedb::testing
