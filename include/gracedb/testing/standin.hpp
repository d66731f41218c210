// gracedb::StandIn: a GraceDB stand-in HTTP server for the sandbox and for users' own tests. It answers as the
// real server does where that server's source could be read (../shared/notes/gracedb-server.md): the API root
// at /api/, /api/v1/ and /api/v2/ with links, templates, the vocabularies (groups, pipelines, searches, labels:
// exact, case-sensitive names) and API_VERSIONS; event creation validated by exact name, errors in the real
// shapes ({"errors": [...]}, {"error": ...}, {"detail": ...} or plain text), 201 = the event plus "warnings"
// and a Location header; a missing event is 404 "Event not found." in plain text; graceid prefixes T (group
// Test), M (search MDC), H (pipeline HardwareInjection), E (group External), else G; User-Agent rules (none:
// 400; "gracedb-client/<old version>": 400). With a JWKS, a bearer token that fails any check (signature,
// expiry, audience, issuer, scope) makes the request anonymous, never 401: the API root stays readable, events
// and writes answer 403 {"detail": ...}. With a client CA, an X.509 caller is its full subject DN in slash form.
// Optional throttling of creations (429 + Retry-After). Graceid reservations and reserved uploads (not in any
// server source that could be read) are reached only through the root's links and templates.
// Events live in memory, optionally in a file. Like GraceDB it sends no alert for a reservation and one "new"
// alert when an event is created or uploaded.
#pragma once

#include <gracedb/testing/export.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace gracedb {

/// How the stand-in listens, authenticates, and what it accepts (the real server's vocabularies by default).
struct GRACEDB_TESTING_EXPORT StandInOptions {
    std::string bind_address = "127.0.0.1";  ///< The address it listens on.
    int port = 0;                           ///< 0: a free port
    /// Host of the service URL. Keep a name every client resolves ("localhost" or "127.0.0.1"): libcurl
    /// resolves "*.localhost" by itself, but getaddrinfo (Python, other tools) does not. Clients that derive the
    /// Kafka instance from the URL get its first label; name the instance explicitly where another is wanted.
    std::string url_host = "localhost";
    /// JWKS (JSON text): bearer tokens are verified, and callers without a valid one are anonymous (they read
    /// the API root; anything else is 403). Without it (and without client_ca_file) authentication is off: every
    /// caller is the user "anonymous", allowed everything.
    std::optional<std::string> jwks{};
    std::optional<std::string> audience{};  ///< expected "aud"; default `https://<url_host>`
    std::optional<std::string> issuer{};    ///< expected "iss", if set
    /// The spec's scope (the server source read enforces read:/GraceDB).
    std::string required_scope = "gracedb.read";
    std::vector<std::string> service_principals{};  ///< may upload reservations of others (the supervisor)
    /// Called once per created event with the "new" alert, on a server thread, outside any lock.
    std::function<void(const nlohmann::json& alert)> on_alert{};
    std::optional<std::string> store_file{};  ///< persist events here and reload them at start
    /// HTTPS: the server's certificate and key (PEM). With `client_ca_file` too, clients must present a
    /// certificate from that CA (X.509 authentication); its full subject DN in slash form
    /// ("/DC=org/DC=cilogon/C=US/O=LIGO/CN=..."; proxy "/CN=<digits>" suffixes stripped) is the submitter.
    std::optional<std::string> tls_cert_file{};
    std::optional<std::string> tls_key_file{};   ///< The server's private key (PEM), with tls_cert_file.
    /// The CA of X.509 client certificates (see tls_cert_file).
    std::optional<std::string> client_ca_file{};
    /// Event creations and reserved uploads are answered after this delay (the real server's database work
    /// takes hundreds of milliseconds); reservations and reads stay fast. Requests are served by 64 workers.
    std::chrono::milliseconds upload_latency{0};
    /// The vocabularies, with the real server's names (its migrations) and exact case.
    std::set<std::string> groups{"CBC", "Burst", "Stochastic", "Coherent", "Test", "External", "Detchar"};
    /// The pipelines GraceDB knows.
    std::set<std::string> pipelines{"gstlal", "pycbc", "MBTA", "spiir", "CWB", "CWB2G", "oLIB", "MLy", "aframe",
                                    "PyGRB", "Fermi", "Swift", "SNEWS", "INTEGRAL", "AGILE", "CHIME", "SVOM",
                                    "IceCube", "HardwareInjection", "X", "Q", "Omega", "Ringdown"};
    /// The searches GraceDB knows.
    std::set<std::string> searches{"AllSky", "LowMass", "HighMass", "GRB", "MDC", "BBH", "IMBH", "SubGRB",
                                   "SubGRBTargeted", "EarlyWarning", "AllSkyLong", "SSM", "Catalog", "FRB", "HEN",
                                   "VTInjection", "O2VirgoTest"};
    /// The labels GraceDB knows.
    std::set<std::string> labels{"INJ", "DQV", "EM_READY", "PE_READY", "H1NO", "H1OK", "H1OPS", "L1NO", "L1OK",
                                 "L1OPS", "V1NO", "V1OK", "V1OPS", "ADVREQ", "ADVOK", "ADVNO", "EM_Throttled",
                                 "EM_Selected", "EM_Superseded", "EM_COINC", "EM_SENT", "GRB_ONLINE",
                                 "GRB_OFFLINE", "SWIFT_GO", "SWIFT_NO", "LUMIN_GO", "LUMIN_NO", "cWB_r", "cWB_s",
                                 "RAVEN_ALERT", "SKYMAP_READY", "EMBRIGHT_READY", "PASTRO_READY", "DQOK",
                                 "DQR_REQUEST", "EARLY_WARNING", "SIGNIF_LOCKED", "LOW_SIGNIF_LOCKED",
                                 "LOW_SIGNIF_PRELIM_SENT", "GCN_PRELIM_SENT", "HIGH_PROFILE", "NOT_GRB"};
    /// Creations (event POSTs and reservations) allowed per user per second; over it: 429 with Retry-After, as
    /// the real server's `event_creation` throttle. 0: no throttling (default); the real server's setting: 25.
    int creations_per_second = 0;
    /// A User-Agent containing "gracedb-client" must be "gracedb-client/<version>" with at least this version.
    std::string minimum_client_version = "2.0.0";
};

/// The GraceDB stand-in (see the top of this header). Not movable. Its accessors and test hooks are
/// thread-safe.
class GRACEDB_TESTING_EXPORT StandIn {
public:
    /// Starts serving on a background thread; throws std::runtime_error if it cannot listen.
    explicit StandIn(StandInOptions options = {});
    ~StandIn();
    StandIn(const StandIn&) = delete;
    StandIn& operator=(const StandIn&) = delete;

    /// "http(s)://<url_host>:<port>/api/"
    std::string service_url() const;
    int port() const;  ///< The port it listens on.

    std::size_t event_count() const;  ///< Events created or uploaded so far.
    /// The event's JSON, as `GET /events/<graceid>` would answer; nothing if there is no such event.
    std::optional<nlohmann::json> event(const std::string& graceid) const;
    /// The bytes of the event file uploaded for `graceid`.
    std::optional<std::string> event_file(const std::string& graceid) const;
    std::vector<nlohmann::json> alerts() const;  ///< Every "new" alert sent, in order.
    /// Successful creations and uploads, and refused uploads of already uploaded events (409s).
    std::size_t uploads() const;
    std::size_t duplicate_uploads() const;  ///< Uploads refused with 409 (the graceid was already uploaded).

    /// Test hook: the next `times` requests to one of the API's routes whose path contains `path_part` are
    /// answered with `status` (once each whole request was read, so a kept-alive connection stays usable).
    void fail_next(const std::string& path_part, int status, int times = 1);
    /// Test hook: forgets every failure fail_next() still had to inject.
    void clear_failures();
    /// Test hook: GraceDB gains a name in one of its vocabularies ("groups", "pipelines", "searches" or
    /// "labels"), as a deploy would; the API root lists it from now on. std::invalid_argument for another list.
    void add_name(const std::string& vocabulary, const std::string& name);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gracedb
