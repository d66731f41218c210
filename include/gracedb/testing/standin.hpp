// gracedb::StandIn: a GraceDB stand-in HTTP server for the sandbox and for users' own tests. It serves the
// API root (links and templates), event creation, graceid reservations, upload of reserved events, event
// detail and event files, with the real server's status codes and error shapes, and checks bearer tokens
// (signature against a JWKS, audience, issuer, expiry, scope). Events live in memory, optionally in a file.
// Like GraceDB it sends no alert for a reservation and one "new" alert when an event is created or uploaded.
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

struct GRACEDB_TESTING_EXPORT StandInOptions {
    std::string bind_address = "127.0.0.1";
    int port = 0;                           // 0: a free port
    std::string url_host = "localhost";     // host of the service URL; its first label names the instance
    std::optional<std::string> jwks{};      // JWKS (JSON text): bearer tokens required and verified
    std::optional<std::string> audience{};  // expected "aud"; default "https://<url_host>"
    std::optional<std::string> issuer{};    // expected "iss", if set
    std::string required_scope = "gracedb.read";
    std::vector<std::string> service_principals{};  // may upload reservations of others (the supervisor)
    /// Called once per created event with the "new" alert, on a server thread, outside any lock.
    std::function<void(const nlohmann::json& alert)> on_alert{};
    std::optional<std::string> store_file{};  // persist events here and reload them at start
    /// HTTPS: the server's certificate and key (PEM). With `client_ca_file` too, clients must present a
    /// certificate from that CA (X.509 authentication); its subject's CN becomes the submitter.
    std::optional<std::string> tls_cert_file{};
    std::optional<std::string> tls_key_file{};
    std::optional<std::string> client_ca_file{};
    std::set<std::string> groups{"CBC", "Burst", "Test", "External", "Detchar"};
    std::set<std::string> pipelines{"gstlal", "pycbc", "MBTA", "spiir", "CWB", "cwb", "oLIB", "MLy", "aframe",
                                    "Fermi", "Swift", "SNEWS", "HardwareInjection", "test"};
};

class GRACEDB_TESTING_EXPORT StandIn {
public:
    /// Starts serving on a background thread; throws std::runtime_error if it cannot listen.
    explicit StandIn(StandInOptions options = {});
    ~StandIn();
    StandIn(const StandIn&) = delete;
    StandIn& operator=(const StandIn&) = delete;

    /// "http(s)://<url_host>:<port>/api/"
    std::string service_url() const;
    int port() const;

    std::size_t event_count() const;
    std::optional<nlohmann::json> event(const std::string& graceid) const;
    /// The bytes of the event file uploaded for `graceid`.
    std::optional<std::string> event_file(const std::string& graceid) const;
    std::vector<nlohmann::json> alerts() const;
    /// Successful creations and uploads, and refused uploads of already uploaded events (409s).
    std::size_t uploads() const;
    std::size_t duplicate_uploads() const;

    /// Test hook: the next `times` requests whose path contains `path_part` are answered with `status`.
    void fail_next(const std::string& path_part, int status, int times = 1);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gracedb
