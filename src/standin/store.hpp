// Private to the stand-in: its events, reservations and alerts, optionally persisted in a file. Not locked:
// the stand-in holds its mutex around every use.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gracedb::standin {

struct StoredEvent {
    nlohmann::json data;  // the event dictionary (as GET events/{graceid} answers)
    std::string filename;
    std::string file;
};

struct Reservation {
    std::string submitter, group, pipeline;
    nlohmann::json search;
    bool uploaded = false;
};

class Store {
public:
    explicit Store(std::optional<std::string> file);

    /// The next graceid, with the real server's prefix rules: T (group Test), M (search MDC),
    /// H (pipeline HardwareInjection), E (group External), else G.
    std::string new_graceid(const std::string& group, const std::string& pipeline, const nlohmann::json& search);

    std::map<std::string, StoredEvent> events;
    std::map<std::string, Reservation> reservations;
    std::vector<nlohmann::json> alerts;
    std::size_t uploads = 0, duplicates = 0;

    /// Writes everything to the file (atomically: a temporary file renamed), if there is one.
    void save() const;

private:
    void load();
    std::optional<std::string> file_;
    long next_number_ = 100001;
};

}  // namespace gracedb::standin
