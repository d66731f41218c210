// Private: the library's logging calls, on top of the public gracedb::log (so every library of the package,
// client, supervisor and testing, logs through the one handler). Never pass a token here.
#pragma once

#include <gracedb/log.hpp>

#include <string_view>

namespace gracedb::detail {
inline bool log_enabled(LogLevel level) { return level != LogLevel::off && level >= log_level(); }
inline void log_debug(std::string_view m) noexcept { gracedb::log(LogLevel::debug, m); }
inline void log_info(std::string_view m) noexcept { gracedb::log(LogLevel::info, m); }
inline void log_warning(std::string_view m) noexcept { gracedb::log(LogLevel::warning, m); }
inline void log_error(std::string_view m) noexcept { gracedb::log(LogLevel::error, m); }
}  // namespace gracedb::detail
