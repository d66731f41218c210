// The stand-in's labels of an event: list, one, add (PUT) and remove (DELETE), each with its log entry and
// alert, as EventLabel serves them.
#include <algorithm>
#include <mutex>

#include "testing/standin/server.hpp"

namespace gracedb {

using json = nlohmann::json;
using namespace standin;

void StandIn::Impl::label_routes(const std::string& event) {
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

}

json StandIn::Impl::label_json(const std::string& base, const std::string& graceid, const Labelling& l) {
    return {{"name", l.name}, {"creator", l.creator}, {"created", l.created},
            {"self", base + "events/" + graceid + "/labels/" + l.name}};
}

}  // namespace gracedb
