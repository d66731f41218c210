// The test issuer's helper must mint what the broker expects: RS256, kid, and the claims asked for.
#include <gtest/gtest.h>
#include <jwt.h>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>

#include <cstdio>
#include <memory>

#include "testrig.hpp"

using namespace gracedb::testing;

namespace {
std::string make_key() {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{EVP_RSA_gen(2048), &EVP_PKEY_free};
    std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new(BIO_s_mem()), &BIO_free};
    PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}
std::string public_pem(const std::string& private_pem) {
    std::unique_ptr<BIO, decltype(&BIO_free)> in{BIO_new_mem_buf(private_pem.data(), -1), &BIO_free};
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{
        PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free};
    std::unique_ptr<BIO, decltype(&BIO_free)> out{BIO_new(BIO_s_mem()), &BIO_free};
    PEM_write_bio_PUBKEY(out.get(), key.get());
    char* data = nullptr;
    long n = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}
}  // namespace

TEST(TokenMinting, SignedClaimsVerifyWithThePublicKey) {
    const auto key = make_key();
    TokenSpec spec;
    spec.iss = "https://issuer.example";
    spec.sub = "albert.einstein";
    spec.aud = {"127.0.0.1", "ANY"};
    spec.exp = now_seconds() + 600;
    spec.iat = now_seconds();
    const auto token = mint_token(key, spec);

    const auto pub = public_pem(key);
    jwt_t* raw = nullptr;
    ASSERT_EQ(jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(pub.data()),
                         static_cast<int>(pub.size())),
              0);
    std::unique_ptr<jwt_t, decltype(&jwt_free)> jwt{raw, &jwt_free};
    EXPECT_EQ(jwt_get_alg(jwt.get()), JWT_ALG_RS256);
    EXPECT_STREQ(jwt_get_header(jwt.get(), "kid"), "rig-key-1");
    EXPECT_STREQ(jwt_get_grant(jwt.get(), "sub"), "albert.einstein");
    EXPECT_STREQ(jwt_get_grant(jwt.get(), "ver"), "scitoken:2.0");
    EXPECT_EQ(jwt_get_grant_int(jwt.get(), "exp"), *spec.exp);
    std::unique_ptr<char, decltype(&std::free)> aud{jwt_get_grants_json(jwt.get(), "aud"), &std::free};
    EXPECT_EQ(nlohmann::json::parse(aud.get()), (nlohmann::json{"127.0.0.1", "ANY"}));
}

TEST(TokenMinting, AnotherKeyDoesNotVerify) {
    TokenSpec spec;
    spec.exp = now_seconds() + 600;
    const auto token = mint_token(make_key(), spec);
    const auto other = public_pem(make_key());
    jwt_t* raw = nullptr;
    EXPECT_NE(jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(other.data()),
                         static_cast<int>(other.size())),
              0);
    jwt_free(raw);
}

TEST(TokenMinting, JwksCarriesTheKeyId) {
    auto jwks = nlohmann::json::parse(jwks_for(make_key(), "k1"));
    ASSERT_EQ(jwks["keys"].size(), 1u);
    EXPECT_EQ(jwks["keys"][0]["kid"], "k1");
    EXPECT_EQ(jwks["keys"][0]["kty"], "RSA");
    EXPECT_EQ(jwks["keys"][0]["e"], "AQAB");
    EXPECT_GT(jwks["keys"][0]["n"].get<std::string>().size(), 300u);
}
