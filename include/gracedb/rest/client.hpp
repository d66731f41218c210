// gracedb::GraceDb: the parts of the GraceDB REST client that event submission needs, and create_event
// over Kafka (reserve a graceid over HTTP, publish the event file over Kafka, fall back to HTTP).
#pragma once

#include <gracedb/export.hpp>

#include <gracedb/kafka/producer.hpp>
#include <gracedb/rest/errors.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gracedb {

namespace kafka {
class Producer;
}

struct GRACEDB_EXPORT GraceDbOptions {
    std::optional<std::string> api_version{};   // "v1" or "v2": the API root becomes <service_url><version>/
    std::optional<std::string> cred_cert{};     // X.509 client certificate (PEM); with cred_key: no token
    std::optional<std::string> cred_key{};
    bool force_noauth = false;                   // no credentials at all
    std::string token_scope = "gracedb.read";
    std::optional<std::string> token_audience{};  // default: "https://<service host>"
    bool reload_cred = true;
    std::chrono::milliseconds reload_buffer = std::chrono::seconds{300};
    std::optional<std::string> ca_cert_path{};
    bool verify_tls = true;                      // false: loudly insecure
    std::chrono::milliseconds timeout = std::chrono::seconds{30};
    int max_retries = 3;                         // for requests that are safe to repeat
    std::chrono::milliseconds retry_backoff = std::chrono::milliseconds{500};  // doubles each retry
    std::string user_agent{};                    // default "gracedb-cpp/<version>"
};

/// Python: create_event(..., search, filecontents, offline, labels, kafka, http_fallback, ...).
struct GRACEDB_EXPORT CreateEventOptions {
    std::optional<std::string> search{};
    std::optional<std::string> filecontents{};  // when set, sent instead of reading `filename` from disk
    bool offline = false;
    std::vector<std::string> labels{};
    kafka::Producer* kafka = nullptr;
    bool http_fallback = false;
    bool gracedb_upload = true;
    bool skip_supervisor = false;
};

/// One answer. `status` is the HTTP status (202 for an event published over Kafka: accepted, completed by
/// the supervisor); `timings` says where the time went ("reserve", "produce", "acknowledge", "http", "total").
struct GRACEDB_EXPORT Response {
    long status = 0;
    std::string body{};
    std::vector<std::pair<std::string, std::chrono::microseconds>> timings{};

    /// Parses `body`; std::invalid_argument if it is not JSON.
    nlohmann::json json() const;
    /// The duration of a step, if it was timed.
    std::optional<std::chrono::microseconds> timing(std::string_view step) const;
};

/// The audience a GraceDB SciToken must carry: "https://<host of the service URL>".
/// Throws std::invalid_argument for a URL without a host.
GRACEDB_EXPORT std::string gracedb_token_audience(const std::string& service_url);

/// Thread-safe: requests are serialised on one connection (libcurl reuses it).
class GRACEDB_EXPORT GraceDb {
public:
    /// Throws std::invalid_argument for a malformed URL or half an X.509 pair, CredentialError for an
    /// unreadable certificate. A missing SciToken is not an error: requests go without credentials.
    explicit GraceDb(std::string service_url, GraceDbOptions options = {});
    ~GraceDb();
    GraceDb(GraceDb&&) noexcept;
    GraceDb& operator=(GraceDb&&) noexcept;

    /// The API root URL (service URL with the API version applied).
    const std::string& service_url() const;
    /// The API root document (links and templates), fetched once and cached.
    const nlohmann::json& api_root();

    /// Creates an event. Without `kafka`: one multipart POST (never retried: it could create the event twice).
    /// With `kafka`: reserves a graceid, publishes the event message (API.md) keyed by graceid, and waits for
    /// its own delivery report (bounded by the producer's flush_timeout). With http_fallback, a failed
    /// reservation becomes a plain HTTP create and a failed publish an upload_reserved_event over HTTP.
    /// Errors: HTTPError, TransportError, std::invalid_argument (unreadable file), kafka::KafkaError; the
    /// message names the step that failed.
    Response create_event(const std::string& group, const std::string& pipeline, const std::string& filename,
                          const CreateEventOptions& options = {});

    /// Completes a reserved event over HTTP. Idempotent by graceid and retried on transient failures;
    /// a 409 (already uploaded) is returned, not raised: callers treat it as done.
    Response upload_reserved_event(const std::string& graceid, const std::string& group, const std::string& pipeline,
                                   const std::string& filename, const CreateEventOptions& options = {});

    /// Reserves a graceid: {"graceid": ..., "submitter": ...}. Not retried.
    Response reserve_graceid(const std::string& group, const std::string& pipeline,
                             const std::optional<std::string>& search = std::nullopt);

    /// The event's JSON (GET, retried on transient failures).
    Response event(const std::string& graceid);

    /// GET of any URL under the service (retried on transient failures).
    Response get(const std::string& url);

    /// A producer for this GraceDB instance: service_url filled in unless the options name the instance.
    kafka::Producer create_kafka_producer(kafka::ProducerOptions options) const;

    /// Claims of the SciToken in use, if any.
    std::optional<TokenClaims> token_claims() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gracedb
