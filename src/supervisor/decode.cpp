#include "supervisor/decode.hpp"

#include <gracedb/rest/errors.hpp>

#include <nlohmann/json.hpp>

#include <cmath>

#include "common/base64.hpp"
#include "common/text.hpp"

namespace gracedb::supervisor_detail {
namespace {

using json = nlohmann::json;
using Kind = Decoded::Kind;

Decoded dead(std::string reason, const Decoded& so_far = {}) {
    Decoded d = so_far;
    d.kind = Kind::dead;
    d.reason = std::move(reason);
    d.upload.reset();
    return d;
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

bool has_control_character(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return true;
    return false;
}

// A name that goes into a form field: a string of 1..kMaxNameLength bytes without control characters.
std::optional<std::string> name_problem(const json& v, std::string_view field) {
    if (!v.is_string()) return std::string{field} + " is " + type_of(v) + ", not a string";
    const auto& s = v.get_ref<const std::string&>();
    if (s.empty()) return std::string{field} + " is empty";
    if (s.size() > kMaxNameLength)
        return std::string{field} + " is " + std::to_string(s.size()) + " bytes long (at most " +
               std::to_string(kMaxNameLength) + ")";
    if (has_control_character(s)) return std::string{field} + " contains a control character";
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

// The graceid goes into the upload URL's path: letters and digits only (GraceDB's are "G123456", "T42", ...).
std::optional<std::string> graceid_problem(const std::string& id) {
    if (id.empty()) return "graceid is empty";
    if (id.size() > kMaxGraceidLength) return "graceid is " + std::to_string(id.size()) + " bytes long";
    for (char c : id)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return "graceid contains a character other than a letter or digit";
    return std::nullopt;
}

Decoded decode(std::string_view value) {
    auto body = json::parse(value.begin(), value.end(), nullptr, false);
    if (body.is_discarded()) return dead("the value is not JSON");
    if (!body.is_object()) return dead("the value is not a JSON object (it is " + type_of(body) + ")");
    Decoded d;
    if (auto ts = body.find("_producer_timestamp"); ts != body.end() && ts->is_number()) {
        const double t = ts->get<double>();
        if (std::isfinite(t) && t > 0 && t < 1e11) d.producer_timestamp = t;  // before the year 5138
    }
    if (auto g = body.find("graceid"); g != body.end() && g->is_string()) {
        const auto& s = g->get_ref<const std::string&>();
        d.graceid = s.size() <= kMaxGraceidLength ? s : s.substr(0, kMaxGraceidLength) + "...";
    }
    auto type = body.find("type");
    if (type == body.end() || type->is_null()) {
        d.kind = Kind::skip;
        d.reason = "no type";
        return d;
    }
    if (!type->is_string()) return dead("type is " + type_of(*type) + ", not a string", d);
    if (type->get_ref<const std::string&>() != "event") {
        d.kind = Kind::skip;
        d.reason = "type is not \"event\"";
        return d;
    }
    bool upload = true, skip_supervisor = false, offline = false;
    if (auto p = read_bool(body, "gracedb_upload", true, upload)) return dead(*p, d);
    if (auto p = read_bool(body, "skip_supervisor", false, skip_supervisor)) return dead(*p, d);
    if (!upload) {
        d.kind = Kind::skip;
        d.reason = "gracedb_upload is false";
        return d;
    }
    if (skip_supervisor) {
        d.kind = Kind::skip;
        d.reason = "skip_supervisor is true";
        return d;
    }
    // An event to upload: every field must be usable.
    auto g = body.find("graceid");
    if (g == body.end() || g->is_null()) return dead("no graceid in an event to upload", d);
    if (!g->is_string()) return dead("graceid is " + type_of(*g) + ", not a string", d);
    if (auto p = graceid_problem(g->get_ref<const std::string&>())) return dead(*p, d);
    Upload u;
    u.graceid = g->get<std::string>();
    for (auto [field, out] : {std::pair{"group", &u.group}, std::pair{"pipeline", &u.pipeline}}) {
        auto it = body.find(field);
        if (it == body.end() || it->is_null()) return dead(std::string{"no "} + field, d);
        if (auto p = name_problem(*it, field)) return dead(*p, d);
        *out = it->get<std::string>();
    }
    if (auto it = body.find("search"); it != body.end() && !it->is_null()) {
        if (auto p = name_problem(*it, "search")) return dead(*p, d);
        u.options.search = it->get<std::string>();
    }
    if (auto p = read_bool(body, "offline", false, offline)) return dead(*p, d);
    u.options.offline = offline;
    if (auto it = body.find("labels"); it != body.end() && !it->is_null()) {
        if (!it->is_array()) return dead("labels is " + type_of(*it) + ", not an array of strings", d);
        if (it->size() > kMaxLabels)
            return dead("labels has " + std::to_string(it->size()) + " entries (at most " + std::to_string(kMaxLabels) + ")", d);
        for (const auto& l : *it) {
            if (auto p = name_problem(l, "a label")) return dead(*p, d);
            u.options.labels.push_back(l.get<std::string>());
        }
    }
    auto file = body.find("eventFile");
    if (file == body.end() || file->is_null()) return dead("no eventFile", d);
    if (!file->is_array() || file->size() != 2)
        return dead("eventFile is " + type_of(*file) + (file->is_array() ? " of " + std::to_string(file->size()) : "") +
                        ", not [filename, base64 contents]",
                    d);
    if (auto p = name_problem((*file)[0], "eventFile's filename")) return dead(*p, d);
    if (!(*file)[1].is_string())
        return dead("eventFile's contents are " + type_of((*file)[1]) + ", not a base64 string", d);
    auto contents = decode_base64_lenient((*file)[1].get_ref<const std::string&>());
    if (!contents) return dead("eventFile contents are not valid base64", d);
    u.filename = (*file)[0].get<std::string>();
    u.options.filecontents = std::move(*contents);
    d.kind = Kind::upload;
    d.reason.clear();
    d.upload = std::move(u);
    return d;
}

}  // namespace

std::optional<std::string> decode_base64_lenient(std::string_view text) {
    std::string compact;
    compact.reserve(text.size());
    for (char c : text)
        if (c != '\n' && c != '\r' && c != ' ' && c != '\t') compact += c;
    return detail::base64_decode(compact);
}

Decoded decode_message(std::string_view value) noexcept {
    try {
        return decode(value);
    } catch (const std::exception& e) {  // bad_alloc for an absurd value, or a bug: still a dead letter
        Decoded d;
        d.reason = std::string{"the message cannot be decoded: "} + e.what();
        return d;
    } catch (...) {
        Decoded d;
        d.reason = "the message cannot be decoded";
        return d;
    }
}

const char* to_string(AttemptResult::Kind kind) noexcept {
    using K = AttemptResult::Kind;
    switch (kind) {
        case K::uploaded: return "uploaded";
        case K::already_uploaded: return "already uploaded";
        case K::transient: return "server busy or unreachable";
        case K::refused: return "refused";
        case K::not_found: return "not found";
        case K::unknown_name: return "unknown name";
        case K::dead: return "bad message";
    }
    return "?";
}

// GraceDB's API exception handler flattens its errors into {"errors": [...]} or {"error": ...}
// (notes/gracedb-server.md): only such a 400 is the server's judgement of the event's fields. A proxy's 400
// is HTML, GraceDB's User-Agent check answers plain text: neither says anything about the event.
static bool is_gracedb_error_body(std::string_view body) {
    auto j = json::parse(body.begin(), body.end(), nullptr, false);
    return !j.is_discarded() && j.is_object() && (j.contains("errors") || j.contains("error"));
}

AttemptResult::Kind classify_answer(long status, std::string_view body) noexcept {
    using K = AttemptResult::Kind;
    try {
        if (status == 409) return K::already_uploaded;
        if (status >= 200 && status < 300) return K::uploaded;
        if (status == 404) return K::not_found;
        if (status == 408 || status == 429 || status >= 500) return K::transient;
        if (status == 400 && is_gracedb_error_body(body)) return K::dead;
        return K::refused;  // 1xx, 3xx, 401, 403, any other 4xx, a 400 not in GraceDB's shape
    } catch (...) {
        return K::refused;
    }
}

AttemptResult attempt_upload(const Upload& upload, const UploadCall& call) noexcept {
    using K = AttemptResult::Kind;
    auto answer = [](long s, const std::string& body) {
        const auto kind = classify_answer(s, body);
        std::string detail = "HTTP " + std::to_string(s);
        if (kind != K::uploaded && kind != K::already_uploaded && !body.empty())
            detail += ": " + gracedb::detail::utf8_excerpt(body, 300);  // a proxy's page may not be UTF-8
        return AttemptResult{kind, std::move(detail)};
    };
    try {
        const Response r = call(upload);
        return answer(r.status, r.body);  // upload_reserved_event returns 2xx, 409 and 3xx; a stub may return any
    } catch (const HTTPError& e) {
        return answer(e.status(), e.body());
    } catch (const TransportError& e) {
        // No HTTP answer: the server unreachable or slow is transient; a TLS failure is the supervisor's
        // configuration (its CA) or something in front of GraceDB.
        return {e.code() == Errc::tls_failed ? K::refused : K::transient, e.what()};
    } catch (const GraceDbError& e) {  // credentials, an API root that is not GraceDB's
        return {K::refused, e.what()};
    } catch (const std::invalid_argument& e) {  // the client refused the request itself (a name, see above)
        return {K::unknown_name, std::string{"the upload request was refused: "} + e.what()};
    } catch (const std::exception& e) {
        return {K::transient, e.what()};
    } catch (...) {
        return {K::transient, "unknown failure"};
    }
}

std::optional<std::string> binding_problem(const Upload& upload, std::string_view topic,
                                           const std::optional<std::string>& key, std::string_view instance) {
    std::string pipeline_topic;
    for (char c : upload.pipeline) pipeline_topic += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    const std::string expected = std::string{instance} + "." + (upload.group == "Test" ? "test" : pipeline_topic);
    if (topic != expected)
        return "group \"" + upload.group + "\", pipeline \"" + upload.pipeline + "\" may only be published on " +
               expected + ", not on " + std::string{topic} + " (a topic decides what its messages may claim)";
    // GraceDB gives every event of group Test, and only those, a graceid starting with T: the open test topic
    // can never name another group's reservation, whatever the server's reserved-upload view checks.
    const bool test_id = !upload.graceid.empty() && upload.graceid.front() == 'T';
    if (test_id != (upload.group == "Test"))
        return "graceid " + upload.graceid + (test_id ? " is a Test event's, but the group is \"" + upload.group + "\""
                                                      : " is not a Test event's (T...), but the group is Test");
    if (!key) return "the message has no key; an event's key must be its graceid " + upload.graceid;
    if (*key != upload.graceid)
        return "the message's key \"" + key->substr(0, kMaxGraceidLength) + "\" is not its graceid " + upload.graceid;
    return std::nullopt;
}

}  // namespace gracedb::supervisor_detail
