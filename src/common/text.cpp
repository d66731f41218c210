#include "common/text.hpp"

#include <algorithm>
#include <ctime>

namespace gracedb::detail {

std::string format_utc(std::chrono::system_clock::time_point t) {
    const std::time_t secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string join_quoted(const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", \"" : "\"") + items[i] + "\"";
    return out + "]";
}

std::string lower(std::string_view text) {
    std::string out{text};
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string first_broker_host(std::string_view bootstrap) {
    auto first = bootstrap.substr(0, bootstrap.find(','));
    while (!first.empty() && first.front() == ' ') first.remove_prefix(1);
    if (auto scheme = first.find("://"); scheme != std::string_view::npos) first.remove_prefix(scheme + 3);
    if (!first.empty() && first.front() == '[') {
        auto close = first.find(']');
        return std::string{first.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1)};
    }
    return std::string{first.substr(0, first.find(':'))};
}

// Length of the well-formed UTF-8 sequence at the start of `s`, or 0 when it is ill-formed (Unicode's
// table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view s) {
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
        return i < s.size() && b(i) >= lo && b(i) <= hi;
    };
    const unsigned char c = b(0);
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
    if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    return 0;
}

std::string utf8_excerpt(std::string_view text, std::size_t max_bytes) {
    static constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD
    std::string out;
    out.reserve(std::min(text.size(), max_bytes));
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t n = utf8_sequence(text.substr(i));
        const std::string_view piece = n ? text.substr(i, n) : replacement;
        if (out.size() + piece.size() > max_bytes) break;
        out.append(piece);
        i += n ? n : 1;
    }
    return out;
}

}  // namespace gracedb::detail
