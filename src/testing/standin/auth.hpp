// Private to the stand-in: who is calling. As the real server (gracedb/api/backends.py): a SciToken that fails
// any check makes the request anonymous (never 401); an X.509 caller is its subject DN in slash form.
#pragma once

#include <gracedb/testing/standin.hpp>

#include <httplib.h>

#include <optional>
#include <string>
#include <vector>

namespace gracedb::standin {

class Authenticator {
public:
    explicit Authenticator(const StandInOptions& options);

    /// The user name, or nullopt for an anonymous request. With authentication off, everyone is "anonymous"
    /// and allowed (see `enabled()`).
    std::optional<std::string> user(const httplib::Request& req) const;
    bool enabled() const { return token_checks_ || x509_; }
    const std::string& audience() const { return audience_; }

private:
    std::optional<std::string> token_user(const std::string& token) const;

    std::string audience_;
    std::optional<std::string> issuer_;
    std::string scope_;
    std::vector<std::string> public_keys_;  // PEM
    bool token_checks_ = false;
    bool x509_ = false;
};

/// "/DC=org/.../CN=Albert Einstein/CN=12345" -> "/DC=org/.../CN=Albert Einstein" (proxy suffixes stripped).
std::string strip_proxy_cns(std::string dn);

}  // namespace gracedb::standin
