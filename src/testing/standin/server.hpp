// Private to the stand-in: StandIn::Impl, the server's state shared by its parts (standin.cpp the server's
// life; checks.cpp the request checks; events, reservations, logs, labels, files: the routes by concern).
#pragma once

#include <gracedb/testing/standin.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "testing/standin/auth.hpp"
#include "testing/standin/http.hpp"
#include "testing/standin/store.hpp"

namespace gracedb {

namespace standin {

/// The real server's "created": "2022-06-10 19:28:01 UTC", for now.
std::string now_created();
/// "2.0.0" -> {2, 0, 0}; empty when `v` is not such a version.
std::vector<int> version_numbers(const std::string& v);

}  // namespace standin

struct GRACEDB_TESTING_NO_EXPORT StandIn::Impl {
    using Req = const httplib::Request&;
    using Res = httplib::Response&;
    using Handler = httplib::Server::Handler;

    StandInOptions options;
    standin::Authenticator auth;
    std::unique_ptr<httplib::Server> server_owner;
    httplib::Server& server;
    std::thread thread;
    int port = 0;
    socket_t listening = INVALID_SOCKET;  // the bound socket (recorded by the socket-options hook)

    mutable std::mutex mutex;  // the store and the faults
    standin::Store store;
    std::vector<std::tuple<std::string, int, int>> faults;  // path part, status, remaining

    mutable std::shared_mutex vocabulary_mutex;  // the vocabularies in `options`: add_name() writes them

    std::mutex throttle_mutex;
    // per user, the creations of the last second
    std::map<std::string, std::deque<std::chrono::steady_clock::time_point>> creations;

    // --- the server's life (standin.cpp)
    static std::unique_ptr<httplib::Server> make_server(const StandInOptions& o);
    explicit Impl(StandInOptions o);
    ~Impl();
    std::string scheme() const { return options.tls_cert_file ? "https://" : "http://"; }
    std::string origin() const { return scheme() + options.url_host + ":" + std::to_string(port); }
    std::string root_url() const { return origin() + "/api/"; }
    std::string base_of(const httplib::Request& req) const;
    /// `handler`, run only when client_checks() lets the request through.
    Handler checked(Handler handler);
    void routes();

    // --- the request checks (checks.cpp)
    bool client_checks(const httplib::Request& req, httplib::Response& res);
    std::optional<std::string> authenticated(const httplib::Request& req, httplib::Response& res);
    bool throttled(const std::string& user, httplib::Response& res);
    std::optional<nlohmann::json> validate(const httplib::Request& req, httplib::Response& res,
                                           bool need_file);
    bool known_label(const std::string& name) const;
    bool valid_pipeline_for_group(const httplib::Request& req, httplib::Response& res);

    // --- events (events.cpp)
    void event_routes(const std::string& api, const std::string& graceid);
    void simulate_database_work() const;
    nlohmann::json event_json(const std::string& base, const std::string& graceid,
                              const std::string& submitter, const nlohmann::json& fields) const;
    nlohmann::json store_event(const std::string& graceid, const nlohmann::json& data,
                               const httplib::Request& req);
    void send_alert(const nlohmann::json& alert);
    void created(httplib::Response& res, const std::string& base, nlohmann::json data);
    nlohmann::json root_document(const std::string& base) const;
    standin::StoredEvent* event_or_404(const httplib::Request& req, httplib::Response& res);
    void send_event_alert(const std::string& type, const std::string& graceid, const nlohmann::json& data,
                          const nlohmann::json& event);

    // --- reservations (reservations.cpp)
    void reservation_routes(const std::string& api, const std::string& graceid);

    // --- follow-ups: `event` is the pattern of an event's URL (graceid as match 1). As the real server's
    // views (gracedb/api/v1/events/views.py; see NOTES.md), every one needs an authenticated caller (403
    // first), then the event (404 "Event not found.", also for a graceid reserved but not uploaded yet).
    void log_routes(const std::string& event);  // logs.cpp
    nlohmann::json log_json(const std::string& base, const std::string& graceid,
                            const standin::LogEntry& e) const;
    static std::vector<std::string> log_field(const httplib::Request& req, const std::string& name);
    void label_routes(const std::string& event);  // labels.cpp
    static nlohmann::json label_json(const std::string& base, const std::string& graceid,
                                     const standin::Labelling& l);
    void file_routes(const std::string& event);  // files.cpp
    static std::string content_type_of(const std::string& name);
};

}  // namespace gracedb
