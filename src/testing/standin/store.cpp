#include "testing/standin/store.hpp"

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "common/base64.hpp"

namespace gracedb::standin {

using json = nlohmann::json;

LogEntry& StoredEvent::add_log(std::string comment, std::string issuer, std::string created) {
    LogEntry e;
    e.n = log.empty() ? 1 : log.back().n + 1;
    e.comment = std::move(comment);
    e.issuer = std::move(issuer);
    e.created = std::move(created);
    log.push_back(std::move(e));
    return log.back();
}

int StoredEvent::add_file(const std::string& name, std::string bytes) {
    auto& versions = files[name];
    versions.push_back(std::move(bytes));
    return static_cast<int>(versions.size()) - 1;
}

namespace {

json log_to_json(const LogEntry& e) {
    return {{"N", e.n}, {"comment", e.comment}, {"issuer", e.issuer}, {"created", e.created},
            {"filename", e.filename},
            {"file_version", e.file_version ? json(*e.file_version) : json(nullptr)},
            {"tags", e.tags}};
}

LogEntry log_from_json(const json& j) {
    LogEntry e;
    e.n = j.at("N");
    e.comment = j.at("comment");
    e.issuer = j.at("issuer");
    e.created = j.at("created");
    e.filename = j.at("filename");
    if (j.at("file_version").is_number()) e.file_version = j.at("file_version").get<int>();
    e.tags = j.at("tags").get<std::vector<std::string>>();
    return e;
}

}  // namespace

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
    for (const auto& [id, e] : events) {
        json log = json::array(), labels = json::array(), files = json::object();
        for (const auto& l : e.log) log.push_back(log_to_json(l));
        for (const auto& l : e.labels)
            labels.push_back({{"name", l.name}, {"creator", l.creator}, {"created", l.created}});
        for (const auto& [name, versions] : e.files)
            for (const auto& v : versions) files[name].push_back(detail::base64_encode(v));
        all["events"][id] = {{"data", e.data},
                             {"filename", e.filename},
                             {"file", detail::base64_encode(e.file)},
                             {"log", log}, {"labels", labels}, {"files", files},
                             {"tag_display_names", e.tag_display_names}};
    }
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
        for (const auto& [id, e] : all["events"].items()) {
            StoredEvent s{e["data"], e["filename"],
                          detail::base64_decode(e["file"].get<std::string>()).value_or("")};
            for (const auto& l : e.value("log", json::array())) s.log.push_back(log_from_json(l));
            for (const auto& l : e.value("labels", json::array()))
                s.labels.push_back(Labelling{l.at("name"), l.at("creator"), l.at("created")});
            const json files = e.value("files", json::object());
            for (const auto& [name, versions] : files.items())
                for (const auto& v : versions)
                    s.files[name].push_back(detail::base64_decode(v.get<std::string>()).value_or(""));
            s.tag_display_names = e.value("tag_display_names", std::map<std::string, std::string>{});
            events[id] = std::move(s);
        }
    if (all.contains("reservations"))
        for (const auto& [id, r] : all["reservations"].items())
            reservations[id] = Reservation{r["submitter"], r["group"], r["pipeline"], r["search"], r["uploaded"]};
}

}  // namespace gracedb::standin
