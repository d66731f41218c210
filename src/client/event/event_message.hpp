// Private: the event message a publisher sends over Kafka and the supervisor uploads (the "envelope"):
// its fields, writing it, and reading it back with every field validated. No Kafka, no HTTP.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gracedb::event_detail {

/// An event as the message carries it.
struct EventMessage {
    std::optional<std::string> graceid{};    // null when nothing was reserved (gracedb_upload false)
    std::optional<std::string> submitter{};  // the reservation's, when it named one
    std::string group{};
    std::string pipeline{};
    std::optional<std::string> search{};
    bool offline = false;
    std::vector<std::string> labels{};
    std::string filename{};  // the file's name without its directories
    std::string contents{};  // the file's bytes (base64 in the message)
    bool gracedb_upload = true;
    bool skip_supervisor = false;
};

/// The JSON text of `m` ("type": "event"; "_producer_timestamp": `producer_timestamp`, seconds since the
/// epoch).
std::string write_envelope(const EventMessage& m, double producer_timestamp);

/// What a message's value is to the supervisor.
struct ReadEnvelope {
    enum class Kind { upload, skip, bad };
    Kind kind = Kind::bad;
    std::string reason{};                        // why it is skipped or bad
    std::optional<std::string> graceid{};        // when the message names one (a string; shortened if long)
    std::optional<double> producer_timestamp{};  // "_producer_timestamp", when plausible
    std::optional<EventMessage> event{};         // kind == upload: every field usable
};

/// Reads and validates a message's value. Never throws: anything unusable is `bad` with the reason. Base64
/// of the event file may contain line breaks (Python's base64.encodebytes).
ReadEnvelope read_envelope(std::string_view value) noexcept;

}  // namespace gracedb::event_detail
