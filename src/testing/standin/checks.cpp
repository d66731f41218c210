// The stand-in's request checks, as the real server makes them before a view: the client's version
// (User-Agent), injected failures (fail_next), authentication, the creation throttle, and the event form.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <shared_mutex>

#include "testing/standin/server.hpp"

namespace gracedb {

using json = nlohmann::json;
using namespace standin;

namespace {

const char* const kNotAuthenticated = "Authentication credentials were not provided.";

}  // namespace

namespace standin {

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

}  // namespace standin

// What the real server checks before any view (ClientVersionMiddleware), and the test hook of fail_next;
// called by every route's handler once the whole request was read. False when the request was answered here.
bool StandIn::Impl::client_checks(const httplib::Request& req, httplib::Response& res) {
    if (req.path.rfind("/api", 0) == 0) {
        const std::string wanted = ">=" + options.minimum_client_version;
        if (!req.has_header("User-Agent")) {
            reply_text(res, 400,
                       "Your client software is out of date - this server requires a version " + wanted +
                           ".");
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
                reply_text(res, 400,
                           "Your client software version (" + version +
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
std::optional<std::string> StandIn::Impl::authenticated(const httplib::Request& req, httplib::Response& res) {
    auto who = auth.user(req);
    if (!who) reply_json(res, 403, {{"detail", kNotAuthenticated}});
    return who;
}

// The real server's event_creation throttle: at most creations_per_second per user in any second.
bool StandIn::Impl::throttled(const std::string& user, httplib::Response& res) {
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
std::optional<json> StandIn::Impl::validate(const httplib::Request& req, httplib::Response& res,
                                            bool need_file) {
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
            errors.push_back("labels: * Select a valid choice. " + l +
                             " is not one of the available choices.");
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
bool StandIn::Impl::known_label(const std::string& name) const {
    std::shared_lock vocabulary{vocabulary_mutex};
    return options.labels.count(name) > 0;
}

// The event view's pipeline check, made before the form for any group but Test.
bool StandIn::Impl::valid_pipeline_for_group(const httplib::Request& req, httplib::Response& res) {
    if (field(req, "group").value_or("") == "Test") return true;
    const auto pipeline = field(req, "pipeline");
    std::shared_lock vocabulary{vocabulary_mutex};
    if (pipeline && options.pipelines.count(*pipeline)) return true;
    reply_json(res, 400, {{"error", "Please provide a valid pipeline."}});
    return false;
}

}  // namespace gracedb
