// Private: ownership of OpenSSL objects. One stateless deleter and one unique_ptr alias per type; the text a
// memory BIO holds.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace gracedb::detail {

struct OpenSslDeleter {
    void operator()(BIO* p) const noexcept { BIO_free(p); }
    void operator()(BIGNUM* p) const noexcept { BN_free(p); }
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
    void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
    void operator()(OSSL_PARAM_BLD* p) const noexcept { OSSL_PARAM_BLD_free(p); }
    void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
    void operator()(X509* p) const noexcept { X509_free(p); }
    void operator()(SSL_CTX* p) const noexcept { SSL_CTX_free(p); }
    void operator()(SSL* p) const noexcept { SSL_free(p); }
};

using Bio = std::unique_ptr<BIO, OpenSslDeleter>;
using BigNum = std::unique_ptr<BIGNUM, OpenSslDeleter>;
using EvpPkey = std::unique_ptr<EVP_PKEY, OpenSslDeleter>;
using EvpPkeyCtx = std::unique_ptr<EVP_PKEY_CTX, OpenSslDeleter>;
using ParamBuilder = std::unique_ptr<OSSL_PARAM_BLD, OpenSslDeleter>;
using Params = std::unique_ptr<OSSL_PARAM, OpenSslDeleter>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter>;
using SslCtx = std::unique_ptr<SSL_CTX, OpenSslDeleter>;
using Ssl = std::unique_ptr<SSL, OpenSslDeleter>;

/// What a memory BIO (BIO_s_mem) holds, as a string.
inline std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    return n > 0 && data ? std::string(data, static_cast<std::size_t>(n)) : std::string{};
}

}  // namespace gracedb::detail
