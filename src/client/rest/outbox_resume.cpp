// GraceDb::resume_outbox: completes the outbox entries that crashed processes left unfinished.
#include <gracedb/rest/client.hpp>

#include "client/rest/impl.hpp"
#include "client/rest/outbox.hpp"

namespace gracedb {

OutboxResumeResult GraceDb::resume_outbox() {
    if (!impl_->outbox)
        throw std::invalid_argument("resume_outbox: this client has no outbox (set GraceDbOptions::outbox)");
    Outbox& box = *impl_->outbox;
    OutboxResumeResult result;
    for (const auto& listed : box.entries(false)) {
        if (listed.finished()) continue;
        if (listed.service != impl_->shown_url) {
            ++result.other_service;
            continue;
        }
        auto entry = box.claim(listed.id);
        if (!entry) {  // a live process (or client) works on it, or it was finished meanwhile
            ++result.busy;
            continue;
        }
        OutboxClaim claim{box, entry->id};
        const std::string name = "entry " + std::to_string(entry->id);
        std::string graceid = entry->graceid.value_or("");
        try {
            if (entry->state == "reserving" || graceid.empty()) {
                // The attempt that died may have reserved a graceid whose answer it never journaled: counted,
                // never known. Reserve again and journal it before anything else.
                box.add_unknown_reservation(entry->id);
                graceid = reserve_graceid(entry->group, entry->pipeline, entry->search).json().at("graceid");
                box.record(entry->id, "reserved", graceid);
            }
            CreateEventOptions o{.search = entry->search, .filecontents = entry->contents,
                                 .offline = entry->offline, .labels = entry->labels};
            const Response r =
                upload_reserved_event(graceid, entry->group, entry->pipeline, entry->filename, o);
            box.record(entry->id, "completed", graceid);
            ++result.completed;
            detail::log_info("outbox: " + name + " completed: " + graceid + " (HTTP " +
                             std::to_string(r.status) +
                             (r.status == 409 ? ": already uploaded)" : ")"));
        } catch (const std::exception& e) {
            ++result.failed;
            std::string what = e.what();
            const auto* http = dynamic_cast<const HTTPError*>(&e);
            // GraceDB judged the entry itself (a 400, a 404 for a graceid it never reserved): retrying cannot
            // help, so it is kept as failed with the reason. Anything else (a 5xx too, even where the request
            // is reported not retriable because it may have been applied) is tried again at the next resume.
            const bool refused =
                (http && http->status() >= 400 && http->status() < 500 && !http->retriable() &&
                 http->status() != 401 && http->status() != 403) ||
                                 dynamic_cast<const std::invalid_argument*>(&e) != nullptr;
            try {
                const std::string state = refused          ? "failed"
                                          : graceid.empty() ? "reserving"
                                          : entry->state == "reserving" ? "reserved"
                                                                        : entry->state;
                box.record(entry->id, state,
                           graceid.empty() ? std::nullopt : std::optional<std::string>{graceid}, what);
            } catch (const std::exception& j) {
                what += "; and journaling that failed: " + std::string{j.what()};
            }
            const std::string line = name + (graceid.empty() ? "" : " (" + graceid + ")") + ": " + what;
            detail::log_warning("outbox: " + line + (refused ? " (refused for good: not retried)" : ""));
            result.errors.push_back(line);
        }
    }
    return result;
}

}  // namespace gracedb
