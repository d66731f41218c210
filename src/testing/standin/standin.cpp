// gracedb::StandIn: the server, its routes and the real server's request checks (User-Agent, throttling,
// validation by exact name). Who is calling: standin/auth.cpp; what is stored: standin/store.cpp.
#include <gracedb/testing/standin.hpp>

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include <sys/socket.h>

#include "common/log.hpp"
#include "testing/standin/auth.hpp"
#include "testing/standin/http.hpp"
#include "testing/standin/store.hpp"

namespace gracedb {

using json = nlohmann::json;
using namespace standin;

namespace {

// The real server's "created": "2022-06-10 19:28:01 UTC".
std::string now_created() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

std::vector<int> version_numbers(const std::string& v) {
    std::vector<int> out;
    std::size_t pos = 0;
    while (pos <= v.size()) {
        const auto dot = v.find('.', pos);
        const auto part = v.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
        if (part.empty() || part.size() > 6 || !std::all_of(part.begin(), part.end(), ::isdigit)) return {};
        out.push_back(std::stoi(part));
        if (dot == std::string::npos) break;
        pos = dot + 1;
    }
    return out;
}

const char* const kNotAuthenticated = "Authentication credentials were not provided.";

// The eventFile part of a multipart request (a part with a file name, as Django's FILES).
const httplib::MultipartFormData* event_file_part(const httplib::Request& req) {
    if (!req.is_multipart_form_data()) return nullptr;
    auto [b, e] = req.files.equal_range("eventFile");
    for (auto it = b; it != e; ++it)
        if (!it->second.filename.empty()) return &it->second;
    return nullptr;
}

}  // namespace

struct GRACEDB_TESTING_NO_EXPORT StandIn::Impl {
    StandInOptions options;
    Authenticator auth;
    std::unique_ptr<httplib::Server> server_owner;
    httplib::Server& server;
    std::thread thread;
    int port = 0;
    socket_t listening = INVALID_SOCKET;  // the bound socket (recorded by the socket-options hook)

    mutable std::mutex mutex;  // the store and the faults
    Store store;
    std::vector<std::tuple<std::string, int, int>> faults;  // path part, status, remaining

    mutable std::shared_mutex vocabulary_mutex;  // the vocabularies in `options`: add_name() writes them

    std::mutex throttle_mutex;
    std::map<std::string, std::deque<std::chrono::steady_clock::time_point>> creations;  // per user, last second

    static std::unique_ptr<httplib::Server> make_server(const StandInOptions& o) {
        if (o.tls_cert_file.has_value() != o.tls_key_file.has_value())
            throw std::invalid_argument("stand-in: give both tls_cert_file and tls_key_file, or neither");
        if (!o.tls_cert_file) return std::make_unique<httplib::Server>();
        auto s = std::make_unique<httplib::SSLServer>(o.tls_cert_file->c_str(), o.tls_key_file->c_str(),
                                                      o.client_ca_file ? o.client_ca_file->c_str() : nullptr);
        if (!s->is_valid()) throw std::runtime_error("stand-in: cannot use the TLS certificate, key or client CA");
        return s;
    }

    explicit Impl(StandInOptions o)
        : options{std::move(o)}, auth{options}, server_owner{make_server(options)}, server{*server_owner},
          store{options.store_file} {
        if (version_numbers(options.minimum_client_version).empty())
            throw std::invalid_argument("stand-in: minimum_client_version \"" + options.minimum_client_version +
                                        "\" is not a version such as \"2.0.0\"");
        // Enough workers that concurrent uploads (a concurrent supervisor) are answered concurrently, as a real
        // server's many workers would, also while upload_latency holds each one.
        server.new_task_queue = [] { return new httplib::ThreadPool(64); };
        server.set_tcp_nodelay(true);  // one response = several writes: without this, 40 ms of delayed ACK each
        // A kept-alive connection serves up to 100 requests (Apache's MaxKeepAliveRequests), not cpp-httplib's 5:
        // a client reconnecting every fifth request is not what a real server makes it do. In cpp-httplib a
        // connection holds one of the 64 workers while it lives (up to 5 s idle): more than 64 clients at once
        // (e.g. a supervisor with max_in_flight above 60) wait for a worker.
        server.set_keep_alive_max_count(100);
        // SO_REUSEADDR (a restart on a fixed port while old connections linger) but not cpp-httplib's default
        // SO_REUSEPORT, with which a second server on a fixed port in use would silently share its connections
        // instead of failing.
        server.set_socket_options([this](socket_t sock) {
            const int yes = 1;
            ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
            listening = sock;
        });
        routes();
        port = options.port ? (server.bind_to_port(options.bind_address.c_str(), options.port) ? options.port : -1)
                            : server.bind_to_any_port(options.bind_address.c_str());
        if (port <= 0)
            throw std::runtime_error("GraceDB stand-in: cannot listen on " + options.bind_address + ":" +
                                     std::to_string(options.port));
        // cpp-httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, compiled into Debian's library).
        // When more clients connect at once (a concurrent supervisor's workers), the kernel drops the SYNs beyond
        // it and each of those clients waits for its 1 s SYN retransmission: seen as uploads taking 1.2 s instead
        // of 0.2 s. Real servers listen with hundreds (Apache 511, gunicorn 2048); listening again on the same
        // socket only raises the backlog (Linux and the BSDs allow it).
        if (listening != INVALID_SOCKET && ::listen(listening, SOMAXCONN) != 0)
            gracedb::detail::log_warning("GraceDB stand-in: cannot raise the listen backlog (clients connecting in "
                                         "a burst may wait for a SYN retransmission)");
        thread = std::thread{[this] { server.listen_after_bind(); }};
        for (int i = 0; i < 5000 && !server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds{1});
    }

    ~Impl() {
        server.stop();
        if (thread.joinable()) thread.join();
    }

    // Event creations and reserved uploads take this long, like the real server's database work.
    void simulate_database_work() const {
        if (options.upload_latency.count() > 0) std::this_thread::sleep_for(options.upload_latency);
    }

    std::string scheme() const { return options.tls_cert_file ? "https://" : "http://"; }
    std::string origin() const { return scheme() + options.url_host + ":" + std::to_string(port); }
    std::string root_url() const { return origin() + "/api/"; }

    // "/api/", "/api/v1/" or "/api/v2/", as the request used, made absolute.
    std::string base_of(const httplib::Request& req) const {
        std::string prefix = "/api/";
        if (req.path.compare(0, 8, "/api/v1/") == 0) prefix = "/api/v1/";
        if (req.path.compare(0, 8, "/api/v2/") == 0) prefix = "/api/v2/";
        return origin() + prefix;
    }

    // What the real server checks before any view (ClientVersionMiddleware), and the test hook of fail_next;
    // called by every route's handler once the whole request was read. False when the request was answered here.
    bool client_checks(const httplib::Request& req, httplib::Response& res) {
        if (req.path.rfind("/api", 0) == 0) {
            const std::string wanted = ">=" + options.minimum_client_version;
            if (!req.has_header("User-Agent")) {
                reply_text(res, 400, "Your client software is out of date - this server requires a version " + wanted + ".");
                return false;
            }
            const auto agent = req.get_header_value("User-Agent");
            if (agent.find("gracedb-client") != std::string::npos) {
                const auto at = agent.find("gracedb-client/");
                if (at == std::string::npos) {
                    reply_text(res, 400, "Error parsing your client software version (" + agent +
                                             ") from the request headers.");
                    return false;
                }
                const auto version = agent.substr(at + 15);
                const auto have = version_numbers(version);
                if (have.empty() || have < version_numbers(options.minimum_client_version)) {
                    reply_text(res, 400, "Your client software version (" + version +
                                             ") is not supported by this server. Please use a version " + wanted + ".");
                    return false;
                }
            }
        }
        std::lock_guard lock{mutex};
        for (auto& [part, status, remaining] : faults)
            if (remaining > 0 && req.path.find(part) != std::string::npos) {
                --remaining;
                // As a proxy or a maintenance page would answer: a redirect names somewhere else to go.
                if (status >= 300 && status < 400) res.set_header("Location", "/maintenance/");
                reply_text(res, status, "injected failure");
                return false;
            }
        return true;
    }

    // The caller for a view that needs an authenticated user (IsAuthenticated), or a 403 already written.
    std::optional<std::string> authenticated(const httplib::Request& req, httplib::Response& res) {
        auto who = auth.user(req);
        if (!who) reply_json(res, 403, {{"detail", kNotAuthenticated}});
        return who;
    }

    // The real server's event_creation throttle: at most creations_per_second per user in any second.
    bool throttled(const std::string& user, httplib::Response& res) {
        if (options.creations_per_second <= 0) return false;
        using namespace std::chrono;
        const auto now = steady_clock::now();
        std::lock_guard lock{throttle_mutex};
        auto& history = creations[user];
        while (!history.empty() && history.front() <= now - seconds{1}) history.pop_front();
        if (static_cast<int>(history.size()) < options.creations_per_second) {
            history.push_back(now);
            return false;
        }
        const auto wait = duration<double>(seconds{1} - (now - history.front())).count();
        const int secs = std::max(1, static_cast<int>(std::ceil(wait)));
        res.set_header("Retry-After", std::to_string(secs));
        reply_json(res, 429, {{"detail", "Request was throttled. Expected available in " + std::to_string(secs) +
                                             (secs == 1 ? " second." : " seconds.")}});
        return true;
    }

    // CreateEventForm: eventFile, group, pipeline, search, labels, offline; errors as the events view flattens
    // them: {"errors": ["group: * Select a valid choice. ..."]}. The parsed fields, or nullopt (answered).
    std::optional<json> validate(const httplib::Request& req, httplib::Response& res, bool need_file) {
        std::shared_lock vocabulary{vocabulary_mutex};
        std::vector<std::string> errors;
        const char* invalid_choice = "* Select a valid choice. That choice is not one of the available choices.";
        if (need_file) {
            const auto* f = event_file_part(req);
            if (!f) errors.push_back("eventFile: * This field is required.");
            else if (f->content.empty()) errors.push_back("eventFile: * The submitted file is empty.");
        }
        auto choice = [&](const char* name, const std::set<std::string>& allowed, bool required) {
            const auto v = field(req, name);
            if (!v || v->empty()) {
                if (required) errors.push_back(std::string{name} + ": * This field is required.");
            } else if (!allowed.count(*v)) {
                errors.push_back(std::string{name} + ": " + invalid_choice);
            }
            return v && !v->empty() ? json(*v) : json(nullptr);
        };
        json group = choice("group", options.groups, true);
        json pipeline = choice("pipeline", options.pipelines, true);
        json search = choice("search", options.searches, false);
        const auto labels = field_values(req, "labels");
        for (const auto& l : labels)
            if (!options.labels.count(l)) {
                errors.push_back("labels: * Select a valid choice. " + l + " is not one of the available choices.");
                break;
            }
        if (!errors.empty()) {
            reply_json(res, 400, {{"errors", errors}});
            return std::nullopt;
        }
        const auto offline = field(req, "offline").value_or("");
        return json{{"group", group},
                    {"pipeline", pipeline},
                    {"search", search},
                    {"offline", !(offline.empty() || offline == "False" || offline == "false" || offline == "0")},
                    {"labels", labels}};
    }

    // Whether the label vocabulary has `name` (taken and released before the store's lock, never both at once).
    bool known_label(const std::string& name) const {
        std::shared_lock vocabulary{vocabulary_mutex};
        return options.labels.count(name) > 0;
    }

    // The event view's pipeline check, made before the form for any group but Test.
    bool valid_pipeline_for_group(const httplib::Request& req, httplib::Response& res) {
        if (field(req, "group").value_or("") == "Test") return true;
        const auto pipeline = field(req, "pipeline");
        std::shared_lock vocabulary{vocabulary_mutex};
        if (pipeline && options.pipelines.count(*pipeline)) return true;
        reply_json(res, 400, {{"error", "Please provide a valid pipeline."}});
        return false;
    }

    json event_json(const std::string& base, const std::string& graceid, const std::string& submitter,
                    const json& fields) const {
        const std::string self = base + "events/" + graceid;
        return {{"submitter", submitter},
                {"created", now_created()},
                {"group", fields["group"]},
                {"graceid", graceid},
                {"pipeline", fields["pipeline"]},
                {"gpstime", nullptr},
                {"reporting_latency", nullptr},
                {"instruments", ""},
                {"nevents", nullptr},
                {"offline", fields["offline"]},
                {"search", fields["search"]},
                {"far", nullptr},
                {"far_is_upper_limit", false},
                {"likelihood", nullptr},
                {"labels", fields["labels"]},
                {"extra_attributes", json::object()},
                {"superevent", nullptr},
                {"links",
                 {{"neighbors", self + "/neighbors/"},
                  {"log", self + "/log/"},
                  {"emobservations", self + "/emobservation/"},
                  {"files", self + "/files/"},
                  {"labels", self + "/labels/"},
                  {"self", self},
                  {"tags", self + "/tag/"}}}};
    }

    // Stores an event (under the lock) and returns its "new" alert, sent by the caller outside the lock.
    json store_event(const std::string& graceid, const json& data, const httplib::Request& req) {
        const auto* f = event_file_part(req);
        auto& e = store.events[graceid] = StoredEvent{data, f->filename, f->content};
        // As the server's handle_uploaded_data: log 1 "Original Data" names the event file, version 0.
        auto& original = e.add_log("Original Data", data["submitter"], data["created"]);
        original.filename = f->filename;
        original.file_version = e.add_file(f->filename, f->content);
        for (const auto& l : data["labels"]) e.labels.push_back(Labelling{l, data["submitter"], data["created"]});
        ++store.uploads;
        json alert_data = data;
        alert_data["superevent_neighbours"] = json::object();  // alerts carry it; the REST answers do not
        json alert = {{"alert_type", "new"}, {"uid", graceid}, {"data", alert_data}, {"object", alert_data}};
        store.alerts.push_back(alert);
        store.save();
        return alert;
    }

    void send_alert(const json& alert) {
        if (!options.on_alert) return;
        try {
            options.on_alert(alert);
        } catch (const std::exception& e) {
            detail::log_error(std::string{"GraceDB stand-in: the alert handler failed: "} + e.what());
        }
    }

    void created(httplib::Response& res, const std::string& base, json data) {
        res.set_header("Location", base + "events/" + data["graceid"].get<std::string>());
        data["warnings"] = json::array();
        reply_json(res, 201, data);
    }

    json root_document(const std::string& base) const {
        auto list = [](const std::set<std::string>& s) { return json(std::vector<std::string>(s.begin(), s.end())); };
        std::shared_lock vocabulary{vocabulary_mutex};
        return {{"links",
                 {{"superevents", base + "superevents/"},
                  {"events", base + "events/"},
                  {"self", base},
                  {"performance", base + "performance/"},
                  {"user-info", base + "user_info/"},
                  {"reservations", base + "reservations/"}}},
                {"templates",
                 {{"event-detail-template", base + "events/{graceid}"},
                  {"event-log-template", base + "events/{graceid}/log/"},
                  {"event-label-template", base + "events/{graceid}/labels/{label}"},
                  {"event-log-detail-template", base + "events/{graceid}/log/{N}"},
                  {"files-template", base + "events/{graceid}/files/{filename}"},
                  {"reservation-upload-template", base + "reservations/{graceid}/upload/"}}},
                {"groups", list(options.groups)},
                {"pipelines", list(options.pipelines)},
                {"searches", list(options.searches)},
                {"labels", list(options.labels)},
                {"API_VERSIONS", {"v1", "v2"}}};
    }

    // --- Follow-ups: logs, labels and files of an event (gracedb/api/v1/events/views.py: EventLogList,
    // EventLogDetail, EventLabel, Files; see NOTES.md). Every one needs an authenticated caller (403 first),
    // then the event (404 "Event not found.", also for a graceid reserved but not uploaded yet).

    json log_json(const std::string& base, const std::string& graceid, const LogEntry& e) const {
        const std::string event = base + "events/" + graceid;
        json file = nullptr;
        if (!e.filename.empty() && e.file_version)
            file = event + "/files/" + e.filename + "," + std::to_string(*e.file_version);
        return {{"N", e.n},
                {"comment", e.comment},
                {"created", e.created},
                {"issuer", e.issuer},
                {"filename", e.filename},
                {"file_version", e.file_version ? json(*e.file_version) : json(nullptr)},
                {"tag_names", e.tags},
                {"self", event + "/log/" + std::to_string(e.n)},
                {"tags", event + "/log/" + std::to_string(e.n) + "/tag/"},
                {"file", file}};
    }

    static json label_json(const std::string& base, const std::string& graceid, const Labelling& l) {
        return {{"name", l.name}, {"creator", l.creator}, {"created", l.created},
                {"self", base + "events/" + graceid + "/labels/" + l.name}};
    }

    // The event of req.matches[1] (mutex held), or nullptr with 404 "Event not found." written.
    StoredEvent* event_or_404(const httplib::Request& req, httplib::Response& res) {
        auto it = store.events.find(req.matches[1]);
        if (it == store.events.end()) {
            reply_text(res, 404, "Event not found.");
            return nullptr;
        }
        return &it->second;
    }

    // Every value of a field of a log POST: multipart or urlencoded (a QueryDict: getlist), or a JSON body
    // (a dict: a string or a list), as EventLogList.post reads them.
    static std::vector<std::string> log_field(const httplib::Request& req, const std::string& name) {
        if (req.get_header_value("Content-Type").rfind("application/json", 0) != 0) return field_values(req, name);
        const auto body = json::parse(req.body, nullptr, false);
        if (!body.is_object() || !body.contains(name)) return {};
        const auto& v = body[name];
        if (v.is_string()) return {v.get<std::string>()};
        std::vector<std::string> out;
        if (v.is_array())
            for (const auto& x : v)
                if (x.is_string()) out.push_back(x.get<std::string>());
        return out;
    }

    void send_event_alert(const std::string& type, const std::string& graceid, const json& data,
                          const json& event) {
        const json alert = {{"alert_type", type}, {"uid", graceid}, {"data", data}, {"object", event}};
        {
            std::lock_guard lock{mutex};
            store.alerts.push_back(alert);
        }
        send_alert(alert);
    }

    static std::string content_type_of(const std::string& name) {
        auto ends = [&](const char* suffix) {
            const std::string s{suffix};
            return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
        };
        if (ends(".json")) return "application/json";
        if (ends(".xml")) return "application/xml";
        if (ends(".png")) return "image/png";
        if (ends(".txt") || ends(".log") || ends(".out")) return "text/plain";
        return "application/octet-stream";
    }

    void followup_routes(const std::string& api, const std::string& graceid) {
        using Req = const httplib::Request&;
        using Res = httplib::Response&;
        auto checked = [this](std::function<void(Req, Res)> handler) {
            return [this, handler = std::move(handler)](Req req, Res res) {
                if (client_checks(req, res)) handler(req, res);
            };
        };
        const std::string event = api + "events/" + graceid;

        server.Get(event + "/log/", checked([this](Req req, Res res) {
            if (!authenticated(req, res)) return;
            const auto self = base_of(req) + "events/" + req.matches[1].str() + "/log/";
            std::lock_guard lock{mutex};
            auto* e = event_or_404(req, res);
            if (!e) return;
            json log = json::array();
            for (const auto& l : e->log) log.push_back(log_json(base_of(req), req.matches[1], l));
            reply_json(res, 200, {{"start", 0}, {"numRows", log.size()},
                                  {"links", {{"self", self}, {"first", self}, {"last", self}}}, {"log", log}});
        }));

        server.Get(event + R"(/log/(\d+))", checked([this](Req req, Res res) {
            if (!authenticated(req, res)) return;
            std::lock_guard lock{mutex};
            auto* e = event_or_404(req, res);
            if (!e) return;
            const auto n = std::stoll(req.matches[2].str().substr(0, 9));
            for (const auto& l : e->log)
                if (l.n == n) return reply_json(res, 200, log_json(base_of(req), req.matches[1], l));
            reply_text(res, 404, "Log does not exist.");
        }));

        server.Post(event + "/log/", checked([this](Req req, Res res) {
            const auto who = authenticated(req, res);
            if (!who) return;
            const std::string id = req.matches[1];
            const auto comments = log_field(req, "comment");
            const auto tags = log_field(req, "tagname");
            const auto display = log_field(req, "displayName");
            const httplib::MultipartFormData* upload = nullptr;
            if (req.is_multipart_form_data()) {
                auto [b, e] = req.files.equal_range("upload");
                for (auto it = b; it != e && !upload; ++it)
                    if (!it->second.filename.empty()) upload = &it->second;
            }
            json answer, event_data;
            {
                std::lock_guard lock{mutex};
                auto* e = event_or_404(req, res);
                if (!e) return;
                const auto created = now_created();
                auto& entry = e->add_log(comments.empty() ? "" : comments.front(), *who, created);
                if (upload) {
                    entry.filename = upload->filename;
                    entry.file_version = e->add_file(upload->filename, upload->content);
                }
                const int n = entry.n;
                // EventLogTagDetail.put for each tag: the tag on the entry, and a log entry saying so.
                for (std::size_t i = 0; i < tags.size(); ++i) {
                    auto& tagged = e->log[static_cast<std::size_t>(n - 1)];
                    const bool had = std::find(tagged.tags.begin(), tagged.tags.end(), tags[i]) != tagged.tags.end();
                    if (had) continue;
                    tagged.tags.push_back(tags[i]);
                    e->tag_display_names.emplace(tags[i], display.size() == tags.size() ? display[i] : "");
                    e->add_log("Tagged message " + std::to_string(n) + ": " + tags[i] + " ", *who, created);
                }
                answer = log_json(base_of(req), id, e->log[static_cast<std::size_t>(n - 1)]);
                event_data = e->data;
                store.save();
            }
            send_event_alert("log", id, answer, event_data);
            res.set_header("Location", answer["self"].get<std::string>());
            reply_json(res, 201, answer);
        }));

        server.Get(event + "/labels/", checked([this](Req req, Res res) {
            if (!authenticated(req, res)) return;
            const std::string id = req.matches[1];
            std::lock_guard lock{mutex};
            auto* e = event_or_404(req, res);
            if (!e) return;
            json labels = json::array();
            for (const auto& l : e->labels) labels.push_back(label_json(base_of(req), id, l));
            reply_json(res, 200, {{"links", {{{"self", base_of(req) + "events/" + id + "/labels/"},
                                              {"event", base_of(req) + "events/" + id}}}},
                                  {"labels", labels}});
        }));

        server.Get(event + "/labels/(.+)", checked([this](Req req, Res res) {
            if (!authenticated(req, res)) return;
            std::lock_guard lock{mutex};
            auto* e = event_or_404(req, res);
            if (!e) return;
            const std::string name = req.matches[2];
            for (const auto& l : e->labels)
                if (l.name == name) return reply_json(res, 200, label_json(base_of(req), req.matches[1], l));
            reply_text(res, 404, "Label " + name + " Not Found");
        }));

        server.Put(event + "/labels/(.+)", checked([this](Req req, Res res) {
            const auto who = authenticated(req, res);
            if (!who) return;
            const std::string id = req.matches[1], name = req.matches[2];
            const bool known = known_label(name);
            json added, event_data;
            {
                std::lock_guard lock{mutex};
                auto* e = event_or_404(req, res);
                if (!e) return;
                if (!known) return reply_text(res, 400, "No such Label '" + name + "'");
                for (const auto& l : e->labels)
                    if (l.name == name)
                        return reply_json(res, 200,
                                          {{"warning", "Event " + id + " already labeled with '" + name + "'"}});
                const auto created = now_created();
                e->labels.push_back(Labelling{name, *who, created});
                e->data["labels"].push_back(name);
                e->add_log("Label: " + name, *who, created);
                added = label_json(base_of(req), id, e->labels.back());
                event_data = e->data;
                store.save();
            }
            send_event_alert("label_added", id, added, event_data);
            reply_json(res, 201, json::object());
        }));

        server.Delete(event + "/labels/(.+)", checked([this](Req req, Res res) {
            const auto who = authenticated(req, res);
            if (!who) return;
            const std::string id = req.matches[1], name = req.matches[2];
            const bool known = known_label(name);
            json removed, event_data;
            {
                std::lock_guard lock{mutex};
                auto* e = event_or_404(req, res);
                if (!e) return;
                if (!known) return reply_text(res, 400, "No such Label '" + name + "'");
                auto it = std::find_if(e->labels.begin(), e->labels.end(),
                                       [&](const Labelling& l) { return l.name == name; });
                if (it == e->labels.end())
                    return reply_text(res, 404, "No label '" + name + "' associated with event " + id);
                removed = label_json(base_of(req), id, *it);
                e->labels.erase(it);
                auto& names = e->data["labels"];
                names.erase(std::remove(names.begin(), names.end(), json(name)), names.end());
                e->add_log("Deleted label: " + name, *who, now_created());
                event_data = e->data;
                store.save();
            }
            send_event_alert("label_removed", id, removed, event_data);
            res.status = 204;
        }));

        // Files: the list is a dictionary name -> URL of every name on disk: "name" (the latest, a symlink
        // on the server) and "name,N" for each version.
        server.Get(event + "/files/", checked([this](Req req, Res res) {
            if (!authenticated(req, res)) return;
            const std::string id = req.matches[1];
            std::lock_guard lock{mutex};
            auto* e = event_or_404(req, res);
            if (!e) return;
            json list = json::object();
            const auto url = base_of(req) + "events/" + id + "/files/";
            for (const auto& [name, versions] : e->files) {
                list[name] = url + name;
                for (std::size_t v = 0; v < versions.size(); ++v)
                    list[name + "," + std::to_string(v)] = url + name + "," + std::to_string(v);
            }
            reply_json(res, 200, list);
        }));

        server.Get(event + "/files/(.+)", checked([this](Req req, Res res) {
            if (!authenticated(req, res)) return;
            std::lock_guard lock{mutex};
            auto* e = event_or_404(req, res);
            if (!e) return;
            const std::string wanted = req.matches[2];
            std::string name = wanted;
            std::optional<std::size_t> version;
            if (const auto comma = wanted.rfind(','); comma != std::string::npos) {
                const auto digits = wanted.substr(comma + 1);
                const bool number = std::all_of(digits.begin(), digits.end(), ::isdigit);
                if (!digits.empty() && digits.size() < 9 && number) {
                    name = wanted.substr(0, comma);
                    version = std::stoul(digits);
                }
            }
            auto it = e->files.find(name);
            const auto slash = wanted.rfind('/');
            const auto base = wanted.substr(slash == std::string::npos ? 0 : slash + 1);
            if (it == e->files.end() || (version && *version >= it->second.size()))
                return reply_text(res, 404, "File " + base + " not found");
            res.status = 200;
            res.set_content(version ? it->second[*version] : it->second.back(), content_type_of(name));
        }));
    }

    void routes() {
        const std::string api = R"(/api/(?:v[12]/)?)";
        const std::string graceid = R"(([GEHMTC]\d+))";
        using Req = const httplib::Request&;
        using Res = httplib::Response&;
        // The client checks run in each handler, that is after cpp-httplib has read the request's body: an
        // answer given before (a pre-routing handler) leaves the body on a kept-alive connection, where it is
        // read as the next requests and answered 400 (a supervisor's next upload on that connection got that
        // 400 and dead-lettered a legitimate event; libcurl 7.88 reuses such a connection).
        auto checked = [this](std::function<void(Req, Res)> handler) {
            return [this, handler = std::move(handler)](Req req, Res res) {
                if (client_checks(req, res)) handler(req, res);
            };
        };

        server.Get(api, checked([this](Req req, Res res) { reply_json(res, 200, root_document(base_of(req))); }));

        server.Get(api + "events/", checked([this](Req req, Res res) {
            if (!authenticated(req, res)) return;
            json events = json::array();
            std::lock_guard lock{mutex};
            for (auto it = store.events.rbegin(); it != store.events.rend(); ++it) events.push_back(it->second.data);
            reply_json(res, 200, {{"start", 0}, {"numRows", events.size()}, {"events", events},
                                  {"links", {{"self", base_of(req) + "events/"}}}});
        }));

        server.Post(api + "events/", checked([this](Req req, Res res) {
            const auto who = authenticated(req, res);
            if (!who || throttled(*who, res) || !valid_pipeline_for_group(req, res)) return;
            auto fields = validate(req, res, true);
            if (!fields) return;
            simulate_database_work();
            json alert, data;
            {
                std::lock_guard lock{mutex};
                const auto id = store.new_graceid((*fields)["group"], (*fields)["pipeline"], (*fields)["search"]);
                data = event_json(base_of(req), id, *who, *fields);
                alert = store_event(id, data, req);
            }
            send_alert(alert);
            created(res, base_of(req), data);
        }));

        server.Post(api + "reservations/", checked([this](Req req, Res res) {
            const auto who = authenticated(req, res);
            if (!who || throttled(*who, res) || !valid_pipeline_for_group(req, res)) return;
            auto fields = validate(req, res, false);
            if (!fields) return;
            std::lock_guard lock{mutex};
            const auto id = store.new_graceid((*fields)["group"], (*fields)["pipeline"], (*fields)["search"]);
            store.reservations[id] = Reservation{*who, (*fields)["group"], (*fields)["pipeline"], (*fields)["search"], false};
            store.save();
            reply_json(res, 201, {{"graceid", id}, {"submitter", *who}});
        }));

        server.Post(api + "reservations/" + graceid + "/upload/", checked([this](Req req, Res res) {
            const auto who = authenticated(req, res);
            if (!who) return;
            const std::string id = req.matches[1];
            auto fields = validate(req, res, true);
            if (!fields) return;
            simulate_database_work();
            json alert, data;
            {
                std::lock_guard lock{mutex};
                auto it = store.reservations.find(id);
                if (it == store.reservations.end()) return reply_text(res, 404, "Reservation not found.");
                auto& r = it->second;
                const auto& sp = options.service_principals;
                const bool service = std::find(sp.begin(), sp.end(), *who) != sp.end();
                if (*who != r.submitter && !service)
                    return reply_text(res, 403, "You (" + *who + ") did not reserve " + id + ".");
                if (r.uploaded) {
                    ++store.duplicates;
                    return reply_json(res, 409, {{"error", "Event " + id + " was already uploaded."}});
                }
                if ((*fields)["group"] != r.group || (*fields)["pipeline"] != r.pipeline)
                    return reply_json(res, 400, {{"error", "group and pipeline must match the reservation of " + id + "."}});
                r.uploaded = true;
                data = event_json(base_of(req), id, r.submitter, *fields);
                alert = store_event(id, data, req);
            }
            send_alert(alert);
            created(res, base_of(req), data);
        }));

        server.Get(api + "events/" + graceid, checked([this](Req req, Res res) {
            if (!authenticated(req, res)) return;
            std::lock_guard lock{mutex};
            auto it = store.events.find(req.matches[1]);
            if (it == store.events.end()) return reply_text(res, 404, "Event not found.");
            res.set_header("Cache-Control", "no-cache");
            reply_json(res, 200, it->second.data);
        }));

        followup_routes(api, graceid);
    }
};

StandIn::StandIn(StandInOptions options) : impl_{std::make_unique<Impl>(std::move(options))} {}
StandIn::~StandIn() = default;
std::string StandIn::service_url() const { return impl_->root_url(); }
int StandIn::port() const { return impl_->port; }

std::size_t StandIn::event_count() const {
    std::lock_guard lock{impl_->mutex};
    return impl_->store.events.size();
}

std::optional<nlohmann::json> StandIn::event(const std::string& graceid) const {
    std::lock_guard lock{impl_->mutex};
    auto it = impl_->store.events.find(graceid);
    if (it == impl_->store.events.end()) return std::nullopt;
    return it->second.data;
}

std::optional<std::string> StandIn::event_file(const std::string& graceid) const {
    std::lock_guard lock{impl_->mutex};
    auto it = impl_->store.events.find(graceid);
    if (it == impl_->store.events.end()) return std::nullopt;
    return it->second.file;
}

std::vector<nlohmann::json> StandIn::alerts() const {
    std::lock_guard lock{impl_->mutex};
    return impl_->store.alerts;
}

std::size_t StandIn::uploads() const {
    std::lock_guard lock{impl_->mutex};
    return impl_->store.uploads;
}

std::size_t StandIn::duplicate_uploads() const {
    std::lock_guard lock{impl_->mutex};
    return impl_->store.duplicates;
}

void StandIn::fail_next(const std::string& path_part, int status, int times) {
    std::lock_guard lock{impl_->mutex};
    impl_->faults.emplace_back(path_part, status, times);
}

void StandIn::clear_failures() {
    std::lock_guard lock{impl_->mutex};
    impl_->faults.clear();
}

void StandIn::add_name(const std::string& vocabulary, const std::string& name) {
    auto& o = impl_->options;
    std::set<std::string>* list = vocabulary == "groups"      ? &o.groups
                                  : vocabulary == "pipelines" ? &o.pipelines
                                  : vocabulary == "searches"  ? &o.searches
                                  : vocabulary == "labels"    ? &o.labels
                                                              : nullptr;
    if (!list)
        throw std::invalid_argument("StandIn::add_name: no vocabulary \"" + vocabulary +
                                    "\" (groups, pipelines, searches or labels)");
    std::unique_lock lock{impl_->vocabulary_mutex};
    list->insert(name);
}

}  // namespace gracedb
