#include "testing/standin/auth.hpp"

#include "common/text.hpp"

#include <gracedb/scitoken.hpp>

#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "common/base64.hpp"
#include "common/log.hpp"
#include "common/openssl.hpp"

namespace gracedb::standin {
namespace {

using json = nlohmann::json;

std::string base64url_to_bytes(const std::string& in) {
    auto out = detail::base64_decode(in, true);
    if (!out) throw std::invalid_argument("bad base64url in JWKS");
    return *out;
}

// The PEM public key of one RSA JWK.
std::string rsa_jwk_to_pem(const json& jwk) {
    const auto n = base64url_to_bytes(jwk.at("n").get<std::string>());
    const auto e = base64url_to_bytes(jwk.at("e").get<std::string>());
    detail::BigNum bn_n{BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr)};
    detail::BigNum bn_e{BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr)};
    detail::ParamBuilder bld{OSSL_PARAM_BLD_new()};
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get());
    detail::Params params{OSSL_PARAM_BLD_to_param(bld.get())};
    detail::EvpPkeyCtx ctx{EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr)};
    EVP_PKEY* raw = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        throw std::invalid_argument("JWKS: cannot build an RSA key");
    detail::EvpPkey key{raw};
    detail::Bio bio{BIO_new(BIO_s_mem())};
    PEM_write_bio_PUBKEY(bio.get(), key.get());
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

std::string strip_proxy_cns(std::string dn) {
    for (;;) {
        const auto pos = dn.rfind("/CN=");
        if (pos == std::string::npos || pos + 4 == dn.size()) return dn;
        const auto tail = dn.substr(pos + 4);
        if (!std::all_of(tail.begin(), tail.end(), [](unsigned char c) { return std::isdigit(c); })) return dn;
        dn.erase(pos);
    }
}

Authenticator::Authenticator(const StandInOptions& o)
    : audience_{o.audience ? *o.audience : "https://" + o.url_host},
      issuer_{o.issuer},
      scope_{o.required_scope},
      token_checks_{o.jwks.has_value()},
      x509_{o.client_ca_file.has_value()} {
    if (o.jwks) {
        const auto jwks = json::parse(*o.jwks);
        for (const auto& k : jwks.at("keys"))
            if (k.value("kty", "") == "RSA") public_keys_.push_back(rsa_jwk_to_pem(k));
        if (public_keys_.empty()) throw std::invalid_argument("stand-in: the JWKS has no RSA key");
    }
}

std::optional<std::string> Authenticator::user(const httplib::Request& req) const {
    if (!enabled()) return std::string{"anonymous"};
    const auto auth = req.get_header_value("Authorization");
    if (token_checks_ && auth.rfind("Bearer ", 0) == 0) return token_user(auth.substr(7));
    if (x509_ && req.ssl) {
        // The CA verified the certificate during the handshake; its subject DN names the caller.
        detail::X509Ptr cert{SSL_get1_peer_certificate(const_cast<SSL*>(req.ssl))};
        if (cert) {
            char* raw = X509_NAME_oneline(X509_get_subject_name(cert.get()), nullptr, 0);
            std::string dn = raw ? raw : "";
            OPENSSL_free(raw);
            if (!dn.empty()) return strip_proxy_cns(dn);
        }
    }
    return std::nullopt;
}

std::optional<std::string> Authenticator::token_user(const std::string& token) const {
    // Any failure: no user (the request goes on anonymously), as the real server's backend does.
    auto anonymous = [](const char* why) -> std::optional<std::string> {
        detail::log_debug(std::string{"GraceDB stand-in: bearer token not accepted ("} + why + "): anonymous");
        return std::nullopt;
    };
    bool verified = false;
    for (const auto& pem : public_keys_) {
        jwt_t* jwt = nullptr;
        if (jwt_decode(&jwt, token.c_str(), reinterpret_cast<const unsigned char*>(pem.data()),
                       static_cast<int>(pem.size())) == 0) {
            verified = jwt_get_alg(jwt) == JWT_ALG_RS256;
            jwt_free(jwt);
            if (verified) break;
        }
    }
    if (!verified) return anonymous("signature not verified by any trusted key");
    TokenClaims c;
    try {
        c = parse_token_claims(token);
    } catch (const std::exception&) {
        return anonymous("malformed claims");
    }
    const auto now = std::chrono::system_clock::now();
    if (!c.exp || *c.exp <= now) return anonymous("expired");
    if (c.nbf && *c.nbf > now) return anonymous("not yet valid");
    if (!c.has_audience(audience_) && !c.has_audience("ANY")) return anonymous("wrong audience");
    if (issuer_ && c.iss != *issuer_) return anonymous("untrusted issuer");
    if (!scope_.empty() && !c.has_scope(scope_)) return anonymous("scope missing");
    if (c.sub.empty()) return anonymous("no subject");
    return detail::lower(c.sub);
}

}  // namespace gracedb::standin
