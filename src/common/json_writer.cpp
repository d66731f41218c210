// The JSON writer (see json_writer.hpp): RapidJSON's Writer over an nlohmann::json tree.
#include "common/json_writer.hpp"

// Not RAPIDJSON_SSE2: Debian's RapidJSON 1.1.0 SIMD scan misses control characters 0x1A-0x1F (it compares
// with 0x19), found by tests/unit/test_json_writer.cpp. Clean strings take our own fast path below instead.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace gracedb::detail {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Strings are checked for UTF-8 only when they hold a byte >= 0x80 (pure ASCII is valid by construction).
// RFC 3629, as nlohmann's dump() checks it: no overlong forms, no surrogates (U+D800-DFFF), nothing above
// U+10FFFF. Our own and bounded: RapidJSON 1.1.0's UTF8::Validate takes every continuation byte a lead byte
// announces without looking at the end, a heap over-read when the last byte starts an incomplete character.
bool valid_utf8(const std::string& s) {
    std::uint64_t high = 0;
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        high |= w;
    }
    for (; i < s.size(); ++i) high |= static_cast<unsigned char>(s[i]);
    if (!(high & 0x8080808080808080ULL)) return true;

    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    for (i = 0; i < n;) {
        const unsigned char c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len;
        unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;  // overlong
            if (c == 0xED) hi = 0x9F;  // surrogates
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;  // overlong
            if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
        } else {
            return false;  // a continuation byte first, an overlong lead (C0, C1), or F5-FF
        }
        if (n - i < len) return false;  // incomplete at the end
        if (p[i + 1] < lo || p[i + 1] > hi) return false;
        for (std::size_t k = 2; k < len; ++k)
            if ((p[i + k] & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

// True when `s` is ASCII without control characters, '"' or '\\': its JSON form is the bytes between quotes.
// Eight bytes at a time (SWAR); exact for "any such byte" because the high bits are checked first.
bool needs_no_escaping(const std::string& s) {
    constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    auto has_zero_byte = [](std::uint64_t x) { return ((x - ones) & ~x & highs) != 0; };
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        if (w & highs) return false;                                   // non-ASCII
        if ((w - 0x2020202020202020ULL) & ~w & highs) return false;    // a byte < 0x20
        if (has_zero_byte(w ^ (ones * '"')) || has_zero_byte(w ^ (ones * '\\'))) return false;
    }
    for (; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80 || c < 0x20 || c == '"' || c == '\\') return false;
    }
    return true;
}

// Writes a string or key: the common clean case by copying its bytes, the rest through RapidJSON's escaping.
void write_string(Writer& w, rapidjson::StringBuffer& out, const std::string& s, bool key) {
    if (needs_no_escaping(s)) {
        w.RawValue("\"", 1, rapidjson::kStringType);  // the writer's separators, then the opening quote
        char* dst = out.Push(s.size() + 1);
        std::memcpy(dst, s.data(), s.size());
        dst[s.size()] = '"';
        return;
    }
    if (!valid_utf8(s))
        throw std::invalid_argument(key ? "cannot send a JSON key that is not valid UTF-8"
                                        : "cannot send a JSON string that is not valid UTF-8");
    if (key)
        w.Key(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    else
        w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write(Writer& w, rapidjson::StringBuffer& out, const nlohmann::json& v) {
    using T = nlohmann::json::value_t;
    bool ok = true;
    switch (v.type()) {
        case T::null:
        case T::discarded: ok = w.Null(); break;
        case T::boolean: ok = w.Bool(v.get<bool>()); break;
        case T::number_integer: ok = w.Int64(v.get<std::int64_t>()); break;
        case T::number_unsigned: ok = w.Uint64(v.get<std::uint64_t>()); break;
        case T::number_float: {
            const double d = v.get<double>();
            ok = std::isfinite(d) ? w.Double(d) : w.Null();
            break;
        }
        case T::string: {
            write_string(w, out, v.get_ref<const std::string&>(), false);
            break;
        }
        case T::array:
            w.StartArray();
            for (const auto& item : v) write(w, out, item);
            ok = w.EndArray();
            break;
        case T::object:
            w.StartObject();
            for (auto it = v.begin(); it != v.end(); ++it) {
                write_string(w, out, it.key(), true);
                write(w, out, it.value());
            }
            ok = w.EndObject();
            break;
        case T::binary: throw std::invalid_argument("a JSON binary value has no JSON text: send it as bytes");
    }
    if (!ok) throw std::invalid_argument("cannot write this JSON value as text");
}

}  // namespace

std::string to_json_text(const nlohmann::json& value) { return std::string{to_json_text_view(value)}; }

std::string_view to_json_text_view(const nlohmann::json& value) {
    thread_local rapidjson::StringBuffer buffer;
    buffer.Clear();
    Writer writer{buffer};
    write(writer, buffer, value);
    return {buffer.GetString(), buffer.GetSize()};
}

}  // namespace gracedb::detail
