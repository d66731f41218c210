// gracedb::GraceDb: the parts of the GraceDB REST client that event submission needs, and create_event
// over Kafka (reserve a graceid over HTTP, publish the event file over Kafka, fall back to HTTP).
#pragma once

#include <gracedb/export.hpp>

#include <gracedb/kafka/producer.hpp>
#include <gracedb/rest/errors.hpp>
#include <gracedb/rest/outbox.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <initializer_list>
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

/// Options of the GraceDB REST client, named as the Python client's keyword arguments.
struct GRACEDB_EXPORT GraceDbOptions {
    /// "v1" or "v2": the API root becomes `<service_url><version>/`; unset or "default": `<service_url>`.
    std::optional<std::string> api_version{};
    std::optional<std::string> cred_cert{};     ///< X.509 client certificate (PEM); with cred_key: no token
    /// The X.509 certificate's private key (PEM); give both or neither.
    std::optional<std::string> cred_key{};
    bool force_noauth = false;                   ///< no credentials at all
    /// The scope the GraceDB SciToken must grant.
    std::string token_scope = "gracedb.read";
    std::optional<std::string> token_audience{};  ///< default: `https://<service host, lower case>`
    /// Re-read the token from disk before it expires (and after a 401/403); false: keep the first one.
    bool reload_cred = true;
    /// How long before the token's exp it is re-read from disk.
    std::chrono::milliseconds reload_buffer = std::chrono::seconds{300};
    /// A PEM file of CA certificates that verify GraceDB's HTTPS; default: the system's.
    std::optional<std::string> ca_cert_path{};
    bool verify_tls = true;                      ///< false: loudly insecure
    /// The whole time one request may take (libcurl's timeout; connecting: at most 10 s of it).
    std::chrono::milliseconds timeout = std::chrono::seconds{30};
    /// Retries of requests that are safe to repeat (transient failures, 408 and 5xx), and of any request
    /// the server throttled (429, after its Retry-After: a throttled request was not processed).
    int max_retries = 3;
    std::chrono::milliseconds retry_backoff = std::chrono::milliseconds{500};  ///< doubles each retry
    /// Default `gracedb-cpp/<version> (libcurl)`. Must not contain "gracedb-client" (GraceDB checks such a
    /// User-Agent against its Python client's versions): std::invalid_argument at construction.
    std::string user_agent{};
    /// A SciToken is never sent over clear text: with an http:// service URL and a token found, construction
    /// throws CredentialError (code insecure_transport) unless this is true (or GRACEDB_ALLOW_TOKEN_OVER_HTTP=1
    /// is set), which logs a loud warning. Only for a stand-in on this machine; force_noauth sends nothing.
    bool allow_token_over_http = false;
    /// The largest answer body read (default 64 MiB, far above any GraceDB answer): past it the transfer
    /// stops and the request throws GraceDbError with code message_too_large. At least 1 (else
    /// std::invalid_argument).
    std::size_t max_response_bytes = std::size_t{64} << 20;
    /// The reservation window: how long a follow-up call (write_log, logs, write_label, remove_label,
    /// labels, files, event) on a graceid that this client reserved and published over Kafka with
    /// create_event waits for GraceDB to have the event, retrying while the server answers 404 "Event not
    /// found." (the supervisor has not uploaded it yet). Past it: EventNotUploadedError naming the graceid.
    /// Other graceids, and ones already seen to exist, are never waited for: a 404 there is final.
    /// 0: no waiting (the first such 404 raises EventNotUploadedError). Not negative (std::invalid_argument).
    std::chrono::milliseconds reservation_wait = std::chrono::seconds{60};
    /// A directory for the crash-safe outbox (off when unset; created, mode 0700, if missing): each
    /// create_event over Kafka for GraceDB is journaled there durably (SQLite, fsync'd) before its graceid is
    /// reserved and at each step, and an event accepted by a process that crashed is completed later with the
    /// idempotent reserved upload (GraceDb::resume_outbox). See docs/outbox.md. Construction throws
    /// gracedb::Error (code invalid_configuration) when the outbox cannot be opened.
    std::optional<std::string> outbox{};
    /// With an outbox: construction first completes the unfinished entries other (crashed) processes left
    /// (resume_outbox; failures are logged and kept for later, never thrown).
    bool resume_outbox_on_start = true;
};

/// Python: create_event(..., search, filecontents, offline, labels, kafka, http_fallback, ...).
struct GRACEDB_EXPORT CreateEventOptions {
    std::optional<std::string> search{};        ///< The search ("AllSky", ...), checked against the API root.
    std::optional<std::string> filecontents{};  ///< when set, sent instead of reading `filename` from disk
    bool offline = false;                       ///< The event came from an offline analysis.
    /// Labels to apply at creation, checked against the API root.
    std::vector<std::string> labels{};
    /// Publish over Kafka with this producer (not owned; it must outlive the call); null: plain HTTP.
    kafka::Producer* kafka = nullptr;
    /// With `kafka`: complete the event over HTTP when the reservation or the publish fails.
    bool http_fallback = false;
    /// With `kafka`: false publishes the event message without reserving a graceid (no key, not uploaded).
    bool gracedb_upload = true;
    /// With `kafka`: the message asks GraceDB's supervisor not to upload it (it is skipped).
    bool skip_supervisor = false;
};

/// One name or several, as ligo-gracedb's `tag_name` and `displayName` take a string or a list:
/// `.tag_name = "p_astro"` and `.tag_name = {"p_astro", "sig_info"}` both work.
struct GRACEDB_EXPORT TagNames {
    std::vector<std::string> names{};  ///< The names, in order.
    TagNames() = default;              ///< No name.
    /// One name (implicit, like every constructor here).
    TagNames(const char* name) : names{std::string{name}} {}              // NOLINT: implicit on purpose
    /// One name.
    TagNames(std::string name) : names{std::move(name)} {}                 // NOLINT
    /// Several names.
    TagNames(std::vector<std::string> list) : names(std::move(list)) {}    // NOLINT
    /// Several names.
    TagNames(std::initializer_list<std::string> list) : names(list) {}    // NOLINT
};

/// Python: write_log(graceid, message, filename=None, filecontents=None, tag_name=None, displayName=None).
struct GRACEDB_EXPORT WriteLogOptions {
    /// A file to attach: read from this path, or named so when `filecontents` is set (the server keeps only
    /// the base name; a second upload of a name becomes its next version, "name,1").
    std::optional<std::string> filename{};
    std::optional<std::string> filecontents{};  ///< the file's bytes (any, NUL included); needs `filename`
    TagNames tag_name{};                        ///< tags of the log entry
    TagNames displayName{};                     ///< one per tag (else ignored, as the server does)
};

/// One answer. `status` is the HTTP status (202 for an event published over Kafka: accepted, completed by
/// the supervisor); `timings` says where the time went ("reserve", "publish": produce and acknowledgement,
/// "http", "total").
struct GRACEDB_EXPORT Response {
    long status = 0;     ///< The HTTP status (202: published over Kafka).
    std::string body{};  ///< The answer's body (JSON, or a file's bytes for files()).
    /// Time per step, in the order they ran ("reserve", "publish", "http", "total").
    std::vector<std::pair<std::string, std::chrono::microseconds>> timings{};

    /// Parses `body`; std::invalid_argument if it is not JSON.
    nlohmann::json json() const;
    /// The duration of a step, if it was timed.
    std::optional<std::chrono::microseconds> timing(std::string_view step) const;
};

/// The audience a GraceDB SciToken must carry: "https://<host of the service URL>", host in lower case and
/// without the port (as igwn-auth-utils asks for it).
/// Throws std::invalid_argument for a URL without a host.
GRACEDB_EXPORT std::string gracedb_token_audience(const std::string& service_url);

/// Thread-safe: requests are serialised on one connection (libcurl reuses it); the API root is fetched once
/// and never replaced. The bearer token goes only to the service's own scheme, host and port, and never over
/// http:// unless allowed (GraceDbOptions::allow_token_over_http). Errors carry codes (gracedb::Errc):
/// HTTPError http_status; TransportError connection_failed, timed_out, tls_failed; CredentialError
/// credential_unusable, insecure_transport. A user:password@ in the service URL is never shown in messages.
class GRACEDB_EXPORT GraceDb {
public:
    /// Throws std::invalid_argument for a malformed URL, an unknown api_version, a user_agent containing
    /// "gracedb-client" or half an X.509 pair; CredentialError for an unreadable certificate or a token that
    /// would go over http:// (insecure_transport). A missing SciToken is not an error: requests go without one.
    explicit GraceDb(std::string service_url, GraceDbOptions options = {});
    ~GraceDb();
    /// Takes over the other client; the moved-from object may only be destroyed or assigned.
    GraceDb(GraceDb&&) noexcept;
    /// Releases this client, then takes over the other.
    GraceDb& operator=(GraceDb&&) noexcept;

    /// The API root URL (service URL with the API version applied).
    const std::string& service_url() const;
    /// The API root document (links, templates, vocabularies), fetched once and cached; the reference stays
    /// valid for the client's life.
    const nlohmann::json& api_root();

    /// Creates an event. group, pipeline, search and labels are first checked against the API root's
    /// vocabularies (std::invalid_argument naming the value and the allowed ones), as the Python client does.
    /// Without `kafka`: one multipart POST (not retried, as it could create the event twice, except after a 429:
    /// a throttled request was not processed; a timeout says the event may exist and how to check).
    /// With `kafka`: reserves a graceid, publishes the event message (API.md) keyed by graceid, and waits for
    /// its own delivery report (bounded by the producer's flush_timeout). A producer of another instance
    /// than this service's (ProducerOptions instance_name, or its service_url's, against
    /// derive_instance_name of this client's URL) is refused first, before anything is reserved:
    /// kafka::KafkaProducerError (invalid_configuration) naming both instances. With http_fallback, a failed
    /// reservation becomes a plain HTTP create.
    /// Once a graceid is reserved, the call ends in exactly one of:
    ///   - published and acknowledged: 202, {"graceid", "topic", "partition", "offset", "transport"};
    ///   - with http_fallback, completed over HTTP by upload_reserved_event when the publish failed or
    ///     timed out: 201 and the event (or, when the Kafka copy was delivered and uploaded first, 200 and
    ///     the event; 409 and {"graceid", "already_uploaded": true} if it cannot be read back). Safe even
    ///     if the Kafka message arrives later: the supervisor's upload of it is a 409, counted done;
    ///   - kafka::KafkaUnfinishedEventError naming the graceid (graceid()) and saying whether the message
    ///     may still be delivered (may_still_be_delivered(), from librdkafka's persistence status; then
    ///     retriable() is false). Do not call create_event again for the event: finish the same graceid
    ///     with upload_reserved_event(e.graceid(), group, pipeline, filename, options) (idempotent).
    /// Other errors: HTTPError, TransportError (reservation step), std::invalid_argument (unreadable file,
    /// illegal topic name), kafka::KafkaError (publish step with gracedb_upload false); the message names the
    /// step that failed.
    Response create_event(const std::string& group, const std::string& pipeline, const std::string& filename,
                          const CreateEventOptions& options = {});

    /// Completes a reserved event over HTTP. Idempotent by graceid and retried on transient failures;
    /// a 409 (already uploaded) is returned, not raised: callers treat it as done. This is how an event named
    /// by a kafka::KafkaUnfinishedEventError is finished (options.kafka is not used here).
    Response upload_reserved_event(const std::string& graceid, const std::string& group, const std::string& pipeline,
                                   const std::string& filename, const CreateEventOptions& options = {});

    /// With an outbox (GraceDbOptions::outbox): completes every unfinished entry for this service that no
    /// live process holds ("reserving": a new graceid is reserved first, and the attempt that died is
    /// counted in OutboxEntry::unknown_reservations; "reserved", "published": the idempotent reserved upload,
    /// a 409 meaning done). Entries other processes work on are left to them. Per-entry failures are counted
    /// and kept for the next resume, never thrown. std::invalid_argument without an outbox; GraceDbError when
    /// the journal cannot be read or written.
    OutboxResumeResult resume_outbox();

    /// Reserves a graceid: {"graceid": ..., "submitter": ...}. Not retried.
    Response reserve_graceid(const std::string& group, const std::string& pipeline,
                             const std::optional<std::string>& search = std::nullopt);

    /// The event's JSON (GET, retried on transient failures; waits out the reservation window of
    /// the follow-ups).
    Response event(const std::string& graceid);

    /// GET of any URL (retried on transient failures). The bearer token is sent only when the URL has the
    /// service's own scheme, host and port; any other URL is fetched without it.
    Response get(const std::string& url);

    // --- Follow-ups on an event (ligo-gracedb 2.x's names), through the API root's templates. Each throws
    // HTTPError (code http_status) for a 4xx/5xx answer, e.g. 404 "Event not found." for a graceid that is
    // not an event in GraceDB; std::invalid_argument for a malformed graceid. The reservation window: on a
    // graceid this client published over Kafka (create_event, 202) and has not yet seen exist, a 404 "Event
    // not found." is retried with back-off (20 ms growing to 500 ms) until the supervisor has uploaded the
    // event, for at most GraceDbOptions::reservation_wait; then EventNotUploadedError. The time waited is
    // the answer's timing "reservation_wait". Runs on the caller's thread; holds no lock while waiting.

    /// Adds a log entry (POST multipart: comment, tagname per tag, displayName per tag, the file as
    /// `upload`): 201 and the entry ({"N", "comment", "filename", "file_version", "tag_names", ...}). Not
    /// retried (it would add the entry twice), except after a 429 or, in the reservation window, a 404
    /// "Event not found." (neither created anything). std::invalid_argument for an unreadable
    /// file or filecontents without a filename.
    Response write_log(const std::string& graceid, const std::string& message,
                       const WriteLogOptions& options = {});
    /// The event's log: {"numRows", "log": [entries in order of N]}. GET, retried on transient failures.
    Response logs(const std::string& graceid);
    /// Applies a label (PUT): 201, or 200 with a "warning" when the event had it already. The label is first
    /// checked against the API root's `labels` (re-read when not there): std::invalid_argument naming it.
    /// Idempotent, so retried on transient failures.
    Response write_label(const std::string& graceid, const std::string& label);
    /// Removes a label (DELETE): 204; 404 (HTTPError) when the event does not have it. Retried on transient
    /// failures: a retry after a lost answer may see that 404.
    Response remove_label(const std::string& graceid, const std::string& label);
    /// The event's labels: {"labels": [{"name", "creator", "created", "self"}], "links": [...]}.
    Response labels(const std::string& graceid);
    /// With a file name: the file's bytes as `body` ("name" is the latest version, "name,N" version N, from
    /// 0). Without: {"name": url, "name,0": url, ...} for every file of the event. GET, retried.
    Response files(const std::string& graceid, const std::string& filename = "");

    /// A producer for this GraceDB instance: service_url filled in unless the options name the instance.
    kafka::Producer create_kafka_producer(kafka::ProducerOptions options) const;

    /// Claims of the SciToken in use, if any.
    std::optional<TokenClaims> token_claims() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gracedb
