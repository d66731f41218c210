// Fuzz target: what the supervisor makes of one Kafka message (decode_message), the first thing that touches
// bytes any producer with the topic's write scope can send.
// Properties: never throws (it is noexcept: an escape would terminate); a skip or a dead letter always says
// why; an upload carries only fields the REST call can use (a graceid of 1..64 letters and digits; group,
// pipeline, file name, search and labels non-empty, at most 256 bytes, no control character; at most 128
// labels); the file contents are the strict base64 decoding of the message's text with whitespace removed;
// a producer timestamp, when kept, is a finite positive number of seconds before the year 5138.
// The input is read as a message value as is, and (first byte 0x01) wrapped into an event message around
// the rest, so that the fuzzer also reaches the upload path without having to find the JSON shape itself.
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "detail/base64.hpp"
#include "supervisor/decode.hpp"

namespace sd = gracedb::supervisor_detail;

namespace {

bool usable_name(const std::string& s) {
    if (s.empty() || s.size() > sd::kMaxNameLength) return false;
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
}

void check(std::string_view value) {
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
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text{reinterpret_cast<const char*>(data), size};
    check(text);
    if (!text.empty() && text[0] == '\x01') {
        // An event message whose eventFile contents (and graceid, from the first bytes) come from the input.
        const std::string_view rest = text.substr(1);
        nlohmann::json m = {{"type", "event"},
                            {"graceid", std::string{rest.substr(0, rest.size() % 9)}},
                            {"group", "CBC"},
                            {"pipeline", "gstlal"},
                            {"eventFile", {"coinc.xml", std::string{rest}}}};
        check(m.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    return 0;
}
