// Private to the supervisor: what one Kafka message means, as pure functions (no Kafka, no HTTP), so that a
// fuzzer and unit tests can call them with any byte string.
//   decode_message: the value of a message -> an upload to do, a message to skip, or a dead letter (reason).
//   attempt_upload: runs an upload through a caller-given REST call and classifies what came back.
// Neither throws, whatever the input.
#pragma once

#include <gracedb/rest/client.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace gracedb::supervisor_detail {

/// Limits on the fields of an event message (larger is a dead letter, not a reason to allocate without end).
inline constexpr std::size_t kMaxGraceidLength = 64;
inline constexpr std::size_t kMaxNameLength = 256;  // group, pipeline, search, file name, a label
inline constexpr std::size_t kMaxLabels = 128;

/// Everything upload_reserved_event needs.
struct Upload {
    std::string graceid{};
    std::string group{};
    std::string pipeline{};
    std::string filename{};
    CreateEventOptions options{};  // filecontents, search, offline, labels
};

struct Decoded {
    enum class Kind { upload, skip, dead };
    Kind kind = Kind::dead;
    std::string reason{};                      // why it is skipped or dead-lettered
    std::optional<std::string> graceid{};      // when the message names one (a string)
    std::optional<double> producer_timestamp{};  // "_producer_timestamp", seconds since the epoch, when plausible
    std::optional<Upload> upload{};            // kind == upload
};

/// Decodes the value of a message from a pipeline topic. Never throws: anything it cannot use is a dead
/// letter with the reason. Base64 of the event file may contain line breaks (Python's base64.encodebytes).
Decoded decode_message(std::string_view value) noexcept;

/// The outcome of one upload attempt.
struct AttemptResult {
    enum class Kind { uploaded, already_uploaded, transient, dead };
    Kind kind = Kind::transient;
    std::string detail{};
};

/// The REST call, stubbed in tests: returns the response or throws as GraceDb::upload_reserved_event does.
using UploadCall = std::function<Response(const Upload&)>;

/// Runs `call` and classifies: 2xx uploaded, 409 already uploaded (done), 408/429/5xx and transport or
/// credential failures transient (retried), any other 4xx dead. Never throws.
AttemptResult attempt_upload(const Upload& upload, const UploadCall& call) noexcept;

/// Strict base64 after removing ASCII whitespace (line breaks every 76 characters and a final one, as
/// Python's base64.encodebytes writes). nullopt when not valid.
std::optional<std::string> decode_base64_lenient(std::string_view text);

}  // namespace gracedb::supervisor_detail
