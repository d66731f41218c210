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

// One entry of an event's log (the server's EventLog): N counts from 1 per event.
struct LogEntry {
    int n = 0;
    std::string comment, issuer, created;
    std::string filename;               // "" for a log without a file
    std::optional<int> file_version{};  // the version this entry's upload became
    std::vector<std::string> tags{};
};

// A label on an event (the server's Labelling).
struct Labelling {
    std::string name, creator, created;
};

struct StoredEvent {
    nlohmann::json data;  // the event dictionary (as GET events/{graceid} answers); data["labels"]: names
    std::string filename;
    std::string file;
    std::vector<LogEntry> log{};
    std::vector<Labelling> labels{};
    std::map<std::string, std::vector<std::string>> files{};  // name -> the bytes of versions 0, 1, ...
    std::map<std::string, std::string> tag_display_names{};   // tag -> displayName given when first used

    /// A new log entry, numbered after the last one.
    LogEntry& add_log(std::string comment, std::string issuer, std::string created);
    /// Stores a new version of `name`; returns its number (0 for the first, as the server's VersionedFile).
    int add_file(const std::string& name, std::string bytes);
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
