#include "detail/text.hpp"

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

}  // namespace gracedb::detail
