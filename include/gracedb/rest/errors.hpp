// Errors of the REST client. HTTP statuses and transport failures are kept apart (like cpr's Response).
#pragma once

#include <gracedb/export.hpp>

#include <gracedb/error.hpp>

#include <chrono>
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
    /// code() http_status; retriable() for 408, 429 and 5xx (as the supervisor). `what` is the message.
    /// The library's own requests say more: a request that is not idempotent (a plain creation) answered 5xx
    /// may have been applied, so it is reported not retriable, with "may have been processed" in what().
    HTTPError(long status, std::string body, const std::string& what);
    /// With its own code and retriability (a subclass, or a status whose request may have been applied).
    HTTPError(long status, std::string body, const std::string& what, Errc code, bool retriable);
    ~HTTPError() override;
    /// The HTTP status (400, 404, 503, ...).
    long status() const noexcept { return status_; }
    /// The response body (GraceDB's JSON error, as text).
    const std::string& body() const noexcept { return body_; }

private:
    long status_;
    std::string body_;
};

/// A follow-up (write_log, write_label, logs, ...) on a graceid this client reserved and published over
/// Kafka kept meeting GraceDB's 404 "Event not found." for the whole reservation window
/// (GraceDbOptions::reservation_wait): the supervisor has not uploaded the event (yet). Code timed_out,
/// retriable (the upload may still come: check the supervisor, e.g. `gracedb-kafka check`). The request
/// created nothing on the server: sending it again later is safe. status() is 404, body() the server's.
class GRACEDB_EXPORT EventNotUploadedError : public HTTPError {
public:
    /// `waited`: how long the call waited for the event to appear.
    EventNotUploadedError(std::string graceid, std::chrono::milliseconds waited, std::string body,
                          const std::string& what);
    ~EventNotUploadedError() override;
    /// The graceid that never became an event within the window.
    const std::string& graceid() const noexcept { return graceid_; }
    /// How long the call waited before giving up.
    std::chrono::milliseconds waited() const noexcept { return waited_; }

private:
    std::string graceid_;
    std::chrono::milliseconds waited_;
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
