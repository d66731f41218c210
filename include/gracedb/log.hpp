// The library's log: one process-wide handler. By default, messages of level `warning` and above go to
// standard error (`GRACEDB_LOG_LEVEL=debug|info|warning|error|off` changes the threshold).
// Tokens never appear in log messages: only their sub, scope, exp and a short fingerprint.
#pragma once

#include <gracedb/export.hpp>

#include <functional>
#include <string_view>

namespace gracedb {

/// How much of the library's log is shown: messages at or above the threshold (set_log_level).
/// `debug`, `info`, `warning` (the default threshold), `error`; `off` drops everything.
enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3, off = 4 };

/// Receives every message at or above the threshold. May be called from librdkafka's threads and from
/// background threads of the library, concurrently: make it thread-safe. It must not throw. It is called
/// outside every lock of the library: it may itself log or use the library (mind unbounded recursion).
using LogHandler = std::function<void(LogLevel level, std::string_view message)>;

/// Replaces the handler; an empty handler restores the default (standard error). Thread-safe.
GRACEDB_EXPORT void set_log_handler(LogHandler handler);

/// Messages below `level` are dropped before formatting reaches the handler. Thread-safe.
GRACEDB_EXPORT void set_log_level(LogLevel level);
/// The current threshold (initially from `$GRACEDB_LOG_LEVEL`, else `warning`). Thread-safe.
GRACEDB_EXPORT LogLevel log_level();

/// "debug", "info", "warning", "error", "off".
GRACEDB_EXPORT std::string_view to_string(LogLevel level);

/// Sends `message` through the library's handler at `level` (dropped below the threshold). For the
/// companion libraries (supervisor, testing) and applications that want one log. Thread-safe; never throws.
GRACEDB_EXPORT void log(LogLevel level, std::string_view message) noexcept;

}  // namespace gracedb
