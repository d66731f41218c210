// The event message: written by create_event, read back (every field validated) by the supervisor.
#include "client/event/event_message.hpp"

#include <nlohmann/json.hpp>

#include <cmath>

#include "client/event/rules.hpp"
#include "common/base64.hpp"
#include "common/json_writer.hpp"

namespace gracedb::event_detail {
namespace {

using json = nlohmann::json;
using Kind = ReadEnvelope::Kind;

json or_null(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

ReadEnvelope bad(std::string reason, const ReadEnvelope& so_far = {}) {
    ReadEnvelope r = so_far;
    r.kind = Kind::bad;
    r.reason = std::move(reason);
    r.event.reset();
    return r;
}

ReadEnvelope skip(std::string reason, const ReadEnvelope& so_far) {
    ReadEnvelope r = so_far;
    r.kind = Kind::skip;
    r.reason = std::move(reason);
    return r;
}

// The JSON type of a value, for reasons ("a boolean", "a string", ...).
std::string type_of(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return "null";
        case json::value_t::object: return "an object";
        case json::value_t::array: return "an array";
        case json::value_t::string: return "a string";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
        case json::value_t::number_float: return "a number";
        case json::value_t::binary: return "binary";
        case json::value_t::discarded: return "invalid";
    }
    return "invalid";
}

std::optional<std::string> read_name(const json& v, std::string_view field, std::string& out) {
    if (!v.is_string()) return std::string{field} + " is " + type_of(v) + ", not a string";
    if (auto p = name_problem(v.get_ref<const std::string&>(), field)) return p;
    out = v.get<std::string>();
    return std::nullopt;
}

// An optional boolean: absent or null is `fallback`; anything but a boolean is a problem.
std::optional<std::string> read_bool(const json& body, const char* field, bool fallback, bool& out) {
    out = fallback;
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) return std::nullopt;
    if (!it->is_boolean()) return std::string{field} + " is " + type_of(*it) + ", not a boolean";
    out = it->get<bool>();
    return std::nullopt;
}

// The fields of an event to upload; `r` already says whether it is one.
ReadEnvelope read_event(const json& body, ReadEnvelope r) {
    EventMessage e;
    auto g = body.find("graceid");
    if (g == body.end() || g->is_null()) return bad("no graceid in an event to upload", r);
    if (!g->is_string()) return bad("graceid is " + type_of(*g) + ", not a string", r);
    if (auto p = graceid_problem(g->get_ref<const std::string&>())) return bad(*p, r);
    e.graceid = g->get<std::string>();
    for (auto [field, out] : {std::pair{"group", &e.group}, std::pair{"pipeline", &e.pipeline}}) {
        auto it = body.find(field);
        if (it == body.end() || it->is_null()) return bad(std::string{"no "} + field, r);
        if (auto p = read_name(*it, field, *out)) return bad(*p, r);
    }
    if (auto it = body.find("search"); it != body.end() && !it->is_null()) {
        std::string s;
        if (auto p = read_name(*it, "search", s)) return bad(*p, r);
        e.search = std::move(s);
    }
    if (auto p = read_bool(body, "offline", false, e.offline)) return bad(*p, r);
    if (auto it = body.find("labels"); it != body.end() && !it->is_null()) {
        if (!it->is_array()) return bad("labels is " + type_of(*it) + ", not an array of strings", r);
        if (it->size() > kMaxLabels)
            return bad("labels has " + std::to_string(it->size()) + " entries (at most " +
                           std::to_string(kMaxLabels) + ")",
                       r);
        for (const auto& l : *it) {
            std::string label;
            if (auto p = read_name(l, "a label", label)) return bad(*p, r);
            e.labels.push_back(std::move(label));
        }
    }
    auto file = body.find("eventFile");
    if (file == body.end() || file->is_null()) return bad("no eventFile", r);
    if (!file->is_array() || file->size() != 2)
        return bad("eventFile is " + type_of(*file) +
                       (file->is_array() ? " of " + std::to_string(file->size()) : "") +
                       ", not [filename, base64 contents]",
                   r);
    if (auto p = read_name((*file)[0], "eventFile's filename", e.filename)) return bad(*p, r);
    if (!(*file)[1].is_string())
        return bad("eventFile's contents are " + type_of((*file)[1]) + ", not a base64 string", r);
    auto contents = decode_base64_lenient((*file)[1].get_ref<const std::string&>());
    if (!contents) return bad("eventFile contents are not valid base64", r);
    e.contents = std::move(*contents);
    r.kind = Kind::upload;
    r.reason.clear();
    r.event = std::move(e);
    return r;
}

ReadEnvelope read(std::string_view value) {
    auto body = json::parse(value.begin(), value.end(), nullptr, false);
    if (body.is_discarded()) return bad("the value is not JSON");
    if (!body.is_object()) return bad("the value is not a JSON object (it is " + type_of(body) + ")");
    ReadEnvelope r;
    if (auto ts = body.find("_producer_timestamp"); ts != body.end() && ts->is_number()) {
        const double t = ts->get<double>();
        if (std::isfinite(t) && t > 0 && t < 1e11) r.producer_timestamp = t;  // before the year 5138
    }
    if (auto g = body.find("graceid"); g != body.end() && g->is_string()) {
        const auto& s = g->get_ref<const std::string&>();
        r.graceid = s.size() <= kMaxGraceidLength ? s : s.substr(0, kMaxGraceidLength) + "...";
    }
    auto type = body.find("type");
    if (type == body.end() || type->is_null()) return skip("no type", r);
    if (!type->is_string()) return bad("type is " + type_of(*type) + ", not a string", r);
    if (type->get_ref<const std::string&>() != "event") return skip("type is not \"event\"", r);
    bool upload = true, skip_supervisor = false;
    if (auto p = read_bool(body, "gracedb_upload", true, upload)) return bad(*p, r);
    if (auto p = read_bool(body, "skip_supervisor", false, skip_supervisor)) return bad(*p, r);
    if (!upload) return skip("gracedb_upload is false", r);
    if (skip_supervisor) return skip("skip_supervisor is true", r);
    return read_event(body, std::move(r));
}

}  // namespace

std::string write_envelope(const EventMessage& m, double producer_timestamp) {
    const json message = {{"type", "event"},
                          {"_producer_timestamp", producer_timestamp},
                          {"graceid", or_null(m.graceid)},
                          {"pipeline", m.pipeline},
                          {"submitter", or_null(m.submitter)},
                          {"eventFile", {m.filename, detail::base64_encode(m.contents)}},
                          {"group", m.group},
                          {"search", or_null(m.search)},
                          {"offline", m.offline},
                          {"labels", m.labels},
                          {"gracedb_upload", m.gracedb_upload},
                          {"skip_supervisor", m.skip_supervisor}};
    return detail::to_json_text(message);  // RapidJSON: 3x faster than dump() for a large file
}

ReadEnvelope read_envelope(std::string_view value) noexcept {
    try {
        return read(value);
    } catch (const std::exception& e) {  // bad_alloc for an absurd value, or a bug: still a bad message
        return bad(std::string{"the message cannot be decoded: "} + e.what());
    } catch (...) {
        return bad("the message cannot be decoded");
    }
}

}  // namespace gracedb::event_detail
