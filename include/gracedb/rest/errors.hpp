// Errors of the REST client. HTTP statuses and transport failures are kept apart (like cpr's Response).
#pragma once

#include <gracedb/export.hpp>

#include <gracedb/error.hpp>

#include <stdexcept>
#include <string>

namespace gracedb {

/// Root of the REST client's failures.
class GRACEDB_EXPORT GraceDbError : public Error {
public:
    using Error::Error;
    ~GraceDbError() override;
};

/// The server answered with a final 4xx/5xx (Python: requests.HTTPError). Carries the status and the body.
class GRACEDB_EXPORT HTTPError : public GraceDbError {
public:
    /// code() http_status; retriable() for 408, 429, 502, 503 and 504. `what` is the message.
    HTTPError(long status, std::string body, const std::string& what);
    ~HTTPError() override;
    /// The HTTP status (400, 404, 503, ...).
    long status() const noexcept { return status_; }
    /// The response body (GraceDB's JSON error, as text).
    const std::string& body() const noexcept { return body_; }

private:
    long status_;
    std::string body_;
};

/// No HTTP answer at all: connection refused, DNS, TLS handshake, timeout. Says which and where.
class GRACEDB_EXPORT TransportError : public GraceDbError {
public:
    using GraceDbError::GraceDbError;
    ~TransportError() override;
};

/// Credentials that cannot be used: an X.509 file that cannot be read, a SciToken that expired.
class GRACEDB_EXPORT CredentialError : public GraceDbError {
public:
    using GraceDbError::GraceDbError;
    ~CredentialError() override;
};

}  // namespace gracedb
