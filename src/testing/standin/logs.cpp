// The stand-in's event logs: list, one entry, and a new entry (a comment, an optional file upload, tags),
// as EventLogList and EventLogDetail serve them.
#include <algorithm>
#include <mutex>

#include "testing/standin/server.hpp"

namespace gracedb {

using json = nlohmann::json;
using namespace standin;

void StandIn::Impl::log_routes(const std::string& event) {
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
                const bool had =
                    std::find(tagged.tags.begin(), tagged.tags.end(), tags[i]) != tagged.tags.end();
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
}

json StandIn::Impl::log_json(const std::string& base, const std::string& graceid, const LogEntry& e) const {
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

// Every value of a field of a log POST: multipart or urlencoded (a QueryDict: getlist), or a JSON body
// (a dict: a string or a list), as EventLogList.post reads them.
std::vector<std::string> StandIn::Impl::log_field(const httplib::Request& req, const std::string& name) {
    if (req.get_header_value("Content-Type").rfind("application/json", 0) != 0)
        return field_values(req, name);
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

}  // namespace gracedb
