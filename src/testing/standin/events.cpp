// The stand-in's events: the API root, the event list, creating an event (and storing it with its "new"
// alert), reading one event; the event dictionary in the real server's shape.
#include <ctime>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "common/log.hpp"
#include "testing/standin/server.hpp"

namespace gracedb {

using json = nlohmann::json;
using namespace standin;

namespace standin {

// The real server's "created": "2022-06-10 19:28:01 UTC".
std::string now_created() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

}  // namespace standin

void StandIn::Impl::event_routes(const std::string& api, const std::string& graceid) {
    server.Get(api, checked([this](Req req, Res res) { reply_json(res, 200, root_document(base_of(req))); }));

    server.Get(api + "events/", checked([this](Req req, Res res) {
        if (!authenticated(req, res)) return;
        json events = json::array();
        std::lock_guard lock{mutex};
        for (auto it = store.events.rbegin(); it != store.events.rend(); ++it)
            events.push_back(it->second.data);
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

    server.Get(api + "events/" + graceid, checked([this](Req req, Res res) {
        if (!authenticated(req, res)) return;
        std::lock_guard lock{mutex};
        auto it = store.events.find(req.matches[1]);
        if (it == store.events.end()) return reply_text(res, 404, "Event not found.");
        res.set_header("Cache-Control", "no-cache");
        reply_json(res, 200, it->second.data);
    }));
}

// Event creations and reserved uploads take this long, like the real server's database work.
void StandIn::Impl::simulate_database_work() const {
    if (options.upload_latency.count() > 0) std::this_thread::sleep_for(options.upload_latency);
}

json StandIn::Impl::event_json(const std::string& base, const std::string& graceid,
                               const std::string& submitter, const json& fields) const {
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
json StandIn::Impl::store_event(const std::string& graceid, const json& data, const httplib::Request& req) {
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

void StandIn::Impl::send_alert(const json& alert) {
    if (!options.on_alert) return;
    try {
        options.on_alert(alert);
    } catch (const std::exception& e) {
        detail::log_error(std::string{"GraceDB stand-in: the alert handler failed: "} + e.what());
    }
}

void StandIn::Impl::created(httplib::Response& res, const std::string& base, json data) {
    res.set_header("Location", base + "events/" + data["graceid"].get<std::string>());
    data["warnings"] = json::array();
    reply_json(res, 201, data);
}

json StandIn::Impl::root_document(const std::string& base) const {
    auto list = [](const std::set<std::string>& s) {
        return json(std::vector<std::string>(s.begin(), s.end()));
    };
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

// The event of req.matches[1] (mutex held), or nullptr with 404 "Event not found." written.
StoredEvent* StandIn::Impl::event_or_404(const httplib::Request& req, httplib::Response& res) {
    auto it = store.events.find(req.matches[1]);
    if (it == store.events.end()) {
        reply_text(res, 404, "Event not found.");
        return nullptr;
    }
    return &it->second;
}

void StandIn::Impl::send_event_alert(const std::string& type, const std::string& graceid, const json& data,
                                     const json& event) {
    const json alert = {{"alert_type", type}, {"uid", graceid}, {"data", data}, {"object", event}};
    {
        std::lock_guard lock{mutex};
        store.alerts.push_back(alert);
    }
    send_alert(alert);
}

}  // namespace gracedb
