// Private: the library's logging calls. Never pass a token here.
#pragma once

#include <gracedb/log.hpp>

#include <string_view>

namespace gracedb::detail {
bool log_enabled(LogLevel level);
void log(LogLevel level, std::string_view message) noexcept;
inline void log_debug(std::string_view m) noexcept { log(LogLevel::debug, m); }
inline void log_info(std::string_view m) noexcept { log(LogLevel::info, m); }
inline void log_warning(std::string_view m) noexcept { log(LogLevel::warning, m); }
inline void log_error(std::string_view m) noexcept { log(LogLevel::error, m); }
}  // namespace gracedb::detail
