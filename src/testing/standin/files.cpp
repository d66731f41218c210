// The stand-in's files of an event: the list of every name and version, and one file's bytes ("name" the
// latest, "name,N" version N), as Files serves them.
#include <algorithm>
#include <mutex>

#include "testing/standin/server.hpp"

namespace gracedb {

using json = nlohmann::json;
using namespace standin;

void StandIn::Impl::file_routes(const std::string& event) {
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

std::string StandIn::Impl::content_type_of(const std::string& name) {
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

}  // namespace gracedb
