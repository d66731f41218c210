// Fuzz target: what the supervisor makes of one Kafka message (decode_message), the first thing that touches
// bytes any producer with the topic's write scope can send, and then its whole attempt path (attempt_upload)
// with the REST call stubbed: the stub answers with a status, a body or an exception taken from the input.
// Properties: never throws (it is noexcept: an escape would terminate); a skip or a dead letter always says
// why; an upload carries only fields the REST call can use (a graceid of 1..64 letters and digits; group,
// pipeline, file name, search and labels non-empty, at most 256 bytes, no control character; at most 128
// labels); the file contents are the strict base64 decoding of the message's text with whitespace removed;
// a producer timestamp, when kept, is a finite positive number of seconds before the year 5138. The attempt
// never throws, hands the call exactly the decoded upload, and classifies as documented: 2xx uploaded, 409
// already uploaded, 408/429/5xx and transport or credential failures transient (retried), another 4xx or a
// request the client refused itself (std::invalid_argument) dead, anything else transient.
// The input is read as a message value as is, and (first byte 0x01) wrapped into an event message around
// the rest, so that the fuzzer also reaches the upload path without having to find the JSON shape itself.
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <stdexcept>
#include <string_view>

#include <nlohmann/json.hpp>

#include <gracedb/rest/errors.hpp>

#include "common/base64.hpp"
#include "supervisor/decode.hpp"

namespace sd = gracedb::supervisor_detail;

namespace {

bool usable_name(const std::string& s) {
    if (s.empty() || s.size() > sd::kMaxNameLength) return false;
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
}

using Kind = sd::AttemptResult::Kind;

// The rule of decode.hpp, written again: a 400 is dead only in GraceDB's JSON error shape.
Kind expected_for_status(long s, const std::string& body) {
    if (s == 409) return Kind::already_uploaded;
    if (s >= 200 && s < 300) return Kind::uploaded;
    if (s == 404) return Kind::not_found;
    if (s == 408 || s == 429 || s >= 500) return Kind::transient;
    if (s == 400) {
        const auto j = nlohmann::json::parse(body, nullptr, false);
        if (!j.is_discarded() && j.is_object() && (j.contains("errors") || j.contains("error"))) return Kind::dead;
    }
    return Kind::refused;
}

// The attempt, with a stub chosen by `how` (a byte of the input) answering `status` and `body`.
void check_attempt(const sd::Upload& upload, unsigned char how, long status, const std::string& body) {
    const sd::Upload* seen = nullptr;
    auto call = [&](const sd::Upload& u) -> gracedb::Response {
        seen = &u;
        switch (how % 7) {
            case 0: {
                gracedb::Response r;
                r.status = status;
                r.body = body;
                return r;
            }
            case 1: throw gracedb::HTTPError(status, body, "HTTP " + std::to_string(status));
            case 2: throw gracedb::TransportError("connection refused");
            case 3: throw gracedb::CredentialError("token expired");
            case 4: throw std::invalid_argument("bad request: " + body);
            case 5: throw std::runtime_error("runtime: " + body);
            default: throw 42;  // not even an exception class
        }
    };
    const sd::AttemptResult r = sd::attempt_upload(upload, call);
    if (seen != &upload) std::abort();
    Kind want = Kind::transient;
    switch (how % 7) {
        case 0: want = expected_for_status(status, body); break;
        case 1: want = expected_for_status(status, body); break;
        case 3: want = Kind::refused; break;
        case 2:
        case 5:
        case 6: want = Kind::transient; break;
        case 4: want = Kind::unknown_name; break;
        default: break;
    }
    // (An HTTPError with a 2xx status is not something the client raises; it is judged by its status as well.)
    if (r.kind != want) std::abort();
    if (r.detail.empty()) std::abort();
}

struct Stub {
    unsigned char how = 0;
    long status = 201;
    std::string body;
};

void check(std::string_view value, const Stub& stub) {
    const sd::Decoded d = sd::decode_message(value);
    if (d.producer_timestamp) {
        const double t = *d.producer_timestamp;
        if (!std::isfinite(t) || t <= 0 || t >= 1e11) std::abort();
    }
    if (d.graceid && d.graceid->size() > sd::kMaxGraceidLength + 3) std::abort();  // kept short for the log
    switch (d.kind) {
        case sd::Decoded::Kind::skip:
        case sd::Decoded::Kind::dead:
            if (d.reason.empty() || d.upload) std::abort();
            return;
        case sd::Decoded::Kind::upload: break;
    }
    if (!d.upload || !d.reason.empty()) std::abort();
    const sd::Upload& u = *d.upload;
    if (u.graceid.empty() || u.graceid.size() > sd::kMaxGraceidLength) std::abort();
    for (unsigned char c : u.graceid)
        if (!std::isalnum(c)) std::abort();
    if (!d.graceid || *d.graceid != u.graceid) std::abort();
    if (!usable_name(u.group) || !usable_name(u.pipeline) || !usable_name(u.filename)) std::abort();
    if (u.options.search && !usable_name(*u.options.search)) std::abort();
    if (u.options.labels.size() > sd::kMaxLabels) std::abort();
    for (const auto& l : u.options.labels)
        if (!usable_name(l)) std::abort();
    if (!u.options.filecontents) std::abort();
    // The contents round-trip: encoding them again and decoding that gives them back.
    const std::string& contents = *u.options.filecontents;
    const auto again = sd::decode_base64_lenient(gracedb::detail::base64_encode(contents));
    if (!again || *again != contents) std::abort();
    check_attempt(u, stub.how, stub.status, stub.body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text{reinterpret_cast<const char*>(data), size};
    // The stub's answer, from the input's last bytes: a status in 100..599, a body from its first bytes.
    Stub stub;
    if (size > 0) stub.how = data[size - 1];
    if (size > 1) stub.status = 100 + static_cast<long>((data[size - 2] * 7u + stub.how) % 500u);
    stub.body = std::string{text.substr(0, 40)};
    check(text, stub);
    if (!text.empty() && text[0] == '\x01') {
        // An event message whose eventFile contents (and graceid, from the first bytes) come from the input.
        const std::string_view rest = text.substr(1);
        nlohmann::json m = {{"type", "event"},
                            {"graceid", std::string{rest.substr(0, rest.size() % 9)}},
                            {"group", "CBC"},
                            {"pipeline", "gstlal"},
                            {"eventFile", {"coinc.xml", std::string{rest}}}};
        check(m.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), stub);
    }
    return 0;
}
