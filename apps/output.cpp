#include "output.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>

#include "common/base64.hpp"
#include "common/text.hpp"

namespace gracedb::app {
namespace {

std::string json_string(std::string_view utf8_text) { return nlohmann::json(std::string{utf8_text}).dump(); }

enum class Encoding { json, text, base64 };

// A key or value: its JSON representation and how it was encoded.
std::pair<std::string, Encoding> represent(std::string_view bytes) {
    if (auto j = compact_json(bytes); !j.empty()) return {std::move(j), Encoding::json};
    if (valid_utf8(bytes)) return {json_string(bytes), Encoding::text};
    return {json_string(detail::base64_encode(bytes)), Encoding::base64};
}

const char* name(Encoding e) {
    switch (e) {
    case Encoding::json: return "\"json\"";
    case Encoding::text: return "\"text\"";
    case Encoding::base64: return "\"base64\"";
    }
    return "null";
}

// A header name or value: a string when it is text, else {"base64": "..."}.
std::string header_part(std::string_view bytes) {
    if (valid_utf8(bytes)) return json_string(bytes);
    return "{\"base64\":" + json_string(detail::base64_encode(bytes)) + "}";
}

}  // namespace

bool valid_utf8(std::string_view bytes) {
    for (std::size_t i = 0; i < bytes.size();) {
        const auto n = detail::utf8_sequence(bytes.substr(i));
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::string repair_utf8(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (std::size_t i = 0; i < bytes.size();) {
        if (const auto n = detail::utf8_sequence(bytes.substr(i)); n != 0) {
            out.append(bytes.substr(i, n));
            i += n;
        } else {
            out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
            ++i;
        }
    }
    return out;
}

std::string compact_json(std::string_view bytes) {
    // nlohmann's parser skips a byte-order mark; embedded in a line it would make the line invalid.
    if (bytes.starts_with("\xEF\xBB\xBF")) return {};
    // accept() validates the grammar and the UTF-8 of every string without building the document.
    if (!nlohmann::json::accept(bytes)) return {};
    std::string out;
    out.reserve(bytes.size());
    bool in_string = false;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        const char c = bytes[i];
        if (in_string) {
            out += c;
            if (c == '\\') {
                out += bytes[++i];  // the escaped character (accept() guarantees there is one)
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
            out += c;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            out += c;
        }
    }
    return out;
}

std::string message_line(const kafka::Message& m) {
    std::string line = "{\"topic\":" + json_string(repair_utf8(m.topic)) + ",\"partition\":" + std::to_string(m.partition) +
                       ",\"offset\":" + std::to_string(m.offset) + ",\"timestamp\":";
    line += m.timestamp ? std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             m.timestamp->time_since_epoch())
                                             .count())
                        : std::string{"null"};
    if (m.key) {
        const auto [key, encoding] = represent(*m.key);
        line += ",\"key\":" + key + ",\"key_encoding\":" + name(encoding);
    } else {
        line += ",\"key\":null,\"key_encoding\":null";
    }
    line += ",\"headers\":[";
    bool first = true;
    for (const auto& [header, value] : m.headers) {
        if (!first) line += ',';
        first = false;
        line += "[" + header_part(header) + "," + (value ? header_part(*value) : std::string{"null"}) + "]";
    }
    const auto [value, encoding] = represent(m.value);
    line += "],\"value\":" + value + ",\"value_encoding\":" + name(encoding) + "}";
    return line;
}

}  // namespace gracedb::app
