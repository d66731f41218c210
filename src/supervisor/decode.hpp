// Private to the supervisor: what one Kafka message means to it, as pure functions (no Kafka, no HTTP), over
// the event-message module (client/event: the envelope, its rules, what an HTTP answer means).
//   decode_message: the value of a message -> an upload to do, a message to skip, or a dead letter (reason).
//   attempt_upload: runs an upload through a caller-given REST call and classifies what came back.
// Neither throws, whatever the input.
#pragma once

#include <gracedb/rest/client.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "client/event/rules.hpp"

namespace gracedb::supervisor_detail {

/// Limits on the fields of an event message (larger is a dead letter, not a reason to allocate without end).
using event_detail::kMaxGraceidLength;
using event_detail::kMaxLabels;
using event_detail::kMaxNameLength;

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

/// The outcome of one upload attempt. Which answers mean what (the rule; see attempt_upload in decode.cpp):
///   uploaded          2xx
///   already_uploaded  409: the reservation was completed before (by us or another supervisor): done
///   dead              the message itself is bad: a 400 in GraceDB's own JSON error shape ({"errors": ...} or
///                     {"error": ...}: the server judged the event's fields)
///   unknown_name      the client refused the request itself: a name not in the API root's vocabularies (the
///                     client reads the root again first, at most every 5 s). The supervisor dead-letters it
///                     only when it is still refused kNameRecheck after its first refusal, so that a root read
///                     before GraceDB gained the name cannot decide
///   not_found         404: the graceid was never reserved, OR something in front of GraceDB answers 404; the
///                     supervisor decides (dead only after a bounded time of 404s while other uploads succeed)
///   transient         the server is busy or unreachable: 408, 429, 5xx, no answer (connection, timeout); the
///                     statuses are event_detail::retryable_status, the publisher's rule too
///   refused           the server, or something in front of it, refuses the supervisor: 401, 403 (a bad token
///                     is anonymous there), 3xx (a proxy redirecting to a login or maintenance page), any other
///                     4xx, a 400 not in GraceDB's shape (e.g. its User-Agent check), TLS and credential
///                     failures, an API root that is not GraceDB's. Never the event's fault: retried
/// Everything but uploaded, already_uploaded and dead is retried and never committed past.
struct AttemptResult {
    enum class Kind { uploaded, already_uploaded, transient, refused, not_found, unknown_name, dead };
    Kind kind = Kind::transient;
    std::string detail{};
    /// When the answer came (set by the worker that made the attempt): the produce-to-upload delay ends here.
    std::optional<std::chrono::system_clock::time_point> finished{};
    /// When the answer came, on the steady clock (set by the upload pool, in the order results are handed
    /// over): the 404 rule orders a 404 and a success by it, not by when the polling thread saw them.
    std::chrono::steady_clock::time_point answered{};
    std::chrono::duration<double> took{};  // how long the attempt took
};

const char* to_string(AttemptResult::Kind kind) noexcept;

/// Longer than the REST client's shortest interval between two reads of the API root (5 s).
inline constexpr std::chrono::seconds kNameRecheck{6};

/// The REST call, stubbed in tests: returns the response or throws as GraceDb::upload_reserved_event does.
using UploadCall = std::function<Response(const Upload&)>;

/// Runs `call` and classifies what came back (see AttemptResult). Never throws.
AttemptResult attempt_upload(const Upload& upload, const UploadCall& call) noexcept;

/// The classification of one HTTP answer (status and body) by the rule above; 2xx is uploaded.
AttemptResult::Kind classify_answer(long status, std::string_view body) noexcept;

/// What a message may claim depends on where it was published (per-pipeline topic ACLs are GraceDB's guard):
/// group Test only on "<instance>.test", any other group only on "<instance>.<pipeline in lower case>"; the
/// key must be the graceid. The reason when `upload` read from `topic` with `key` breaks that, else nullopt.
std::optional<std::string> binding_problem(const Upload& upload, std::string_view topic,
                                           const std::optional<std::string>& key, std::string_view instance);

using event_detail::decode_base64_lenient;

}  // namespace gracedb::supervisor_detail
