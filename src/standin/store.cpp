#include "standin/store.hpp"

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "detail/base64.hpp"

namespace gracedb::standin {

using json = nlohmann::json;

Store::Store(std::optional<std::string> file) : file_{std::move(file)} { load(); }

std::string Store::new_graceid(const std::string& group, const std::string& pipeline, const json& search) {
    const bool mdc = search.is_string() && search.get<std::string>() == "MDC";
    const char prefix = group == "Test"                    ? 'T'
                        : mdc                              ? 'M'
                        : pipeline == "HardwareInjection" ? 'H'
                        : group == "External"              ? 'E'
                                                           : 'G';
    return prefix + std::to_string(next_number_++);
}

void Store::save() const {
    if (!file_) return;
    json all = json::object();
    for (const auto& [id, e] : events)
        all["events"][id] = {{"data", e.data}, {"filename", e.filename}, {"file", detail::base64_encode(e.file)}};
    for (const auto& [id, r] : reservations)
        all["reservations"][id] = {{"submitter", r.submitter}, {"group", r.group}, {"pipeline", r.pipeline},
                                   {"search", r.search}, {"uploaded", r.uploaded}};
    all["next_number"] = next_number_;
    const auto tmp = *file_ + ".tmp";
    std::ofstream{tmp} << all.dump();
    std::rename(tmp.c_str(), file_->c_str());
}

void Store::load() {
    if (!file_) return;
    std::ifstream in{*file_};
    if (!in) return;
    const auto all = json::parse(in, nullptr, false);
    if (all.is_discarded()) throw std::runtime_error("GraceDB stand-in: " + *file_ + " is not JSON");
    next_number_ = all.value("next_number", 100001L);
    if (all.contains("events"))
        for (const auto& [id, e] : all["events"].items())
            events[id] = StoredEvent{e["data"], e["filename"],
                                     detail::base64_decode(e["file"].get<std::string>()).value_or("")};
    if (all.contains("reservations"))
        for (const auto& [id, r] : all["reservations"].items())
            reservations[id] = Reservation{r["submitter"], r["group"], r["pipeline"], r["search"], r["uploaded"]};
}

}  // namespace gracedb::standin
