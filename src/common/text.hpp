// Private: small text helpers shared by the library's sources.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace gracedb::detail {

/// "2026-11-26T17:45:00Z"
std::string format_utc(std::chrono::system_clock::time_point t);

/// ["a", "b"]
std::string join_quoted(const std::vector<std::string>& items);

/// ASCII lower case ("SASL_SSL" -> "sasl_ssl"); bytes outside A-Z are kept as they are.
std::string lower(std::string_view text);

/// The host of "host:port", "[v6]:port", "SASL_SSL://host:port"; the first of a comma-separated list.
std::string first_broker_host(std::string_view bootstrap_servers);

/// Length of the well-formed UTF-8 sequence at the start of `s` (1-4), or 0 when it is ill-formed (Unicode's
/// table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF). `s` must not be empty.
std::size_t utf8_sequence(std::string_view s);
/// At most `max_bytes` of `text` as valid UTF-8, for messages and JSON made from bytes somebody else sent
/// (an HTTP body, a proxy's error page): invalid sequences become U+FFFD, and the cut never splits a character.
std::string utf8_excerpt(std::string_view text, std::size_t max_bytes);
}  // namespace gracedb::detail
