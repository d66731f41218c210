// gracedb-kafka: what the tool prints. Text that may hold any byte (error messages that quote a server's
// answer, message keys, values and headers) never reaches the terminal or a JSON line as invalid UTF-8.
#pragma once

#include <gracedb/kafka/consumer.hpp>

#include <string>
#include <string_view>

namespace gracedb::app {

/// True when `bytes` is well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view bytes);

/// `bytes` with every ill-formed UTF-8 sequence (a character cut in half, a stray byte) replaced by U+FFFD.
std::string repair_utf8(std::string_view bytes);

/// The JSON text `bytes` on one line (whitespace between tokens removed, everything else as sent: key order,
/// duplicate keys, the spelling of numbers), or empty when `bytes` is not a JSON text in UTF-8.
std::string compact_json(std::string_view bytes);

/// One line of `listen`'s output, a JSON object (no newline):
///   {"topic": "...", "partition": 0, "offset": 42, "timestamp": <ms since the epoch or null>,
///    "key": ..., "key_encoding": "json"|"text"|"base64"|null,
///    "headers": [[name, value], ...],
///    "value": ..., "value_encoding": "json"|"text"|"base64"}
/// A key or value that is a JSON text is embedded as JSON, other UTF-8 text as a string, anything else as a
/// base64 string (standard alphabet, padded). Headers keep their order and repeats; a header name or value is
/// a string when it is UTF-8 text, null when the value is absent, else {"base64": "..."}.
std::string message_line(const kafka::Message& m);

}  // namespace gracedb::app
