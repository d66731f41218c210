// The stand-in's reservations (the first step of a two-step upload over Kafka) and the upload that completes
// one: by its submitter or a service principal, once only (a second upload is a counted duplicate, 409).
#include <algorithm>
#include <mutex>

#include "testing/standin/server.hpp"

namespace gracedb {

using json = nlohmann::json;
using namespace standin;

void StandIn::Impl::reservation_routes(const std::string& api, const std::string& graceid) {
    server.Post(api + "reservations/", checked([this](Req req, Res res) {
        const auto who = authenticated(req, res);
        if (!who || throttled(*who, res) || !valid_pipeline_for_group(req, res)) return;
        auto fields = validate(req, res, false);
        if (!fields) return;
        std::lock_guard lock{mutex};
        const auto id = store.new_graceid((*fields)["group"], (*fields)["pipeline"], (*fields)["search"]);
        store.reservations[id] =
            Reservation{*who, (*fields)["group"], (*fields)["pipeline"], (*fields)["search"], false};
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
                return reply_json(
                    res, 400, {{"error", "group and pipeline must match the reservation of " + id + "."}});
            r.uploaded = true;
            data = event_json(base_of(req), id, r.submitter, *fields);
            alert = store_event(id, data, req);
        }
        send_alert(alert);
        created(res, base_of(req), data);
    }));
}

}  // namespace gracedb
