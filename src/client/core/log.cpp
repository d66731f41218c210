#include <gracedb/log.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "common/log.hpp"

namespace gracedb {
namespace {

LogLevel initial_level() {
    const char* env = std::getenv("GRACEDB_LOG_LEVEL");
    if (!env) return LogLevel::warning;
    for (auto l : {LogLevel::debug, LogLevel::info, LogLevel::warning, LogLevel::error, LogLevel::off})
        if (to_string(l) == env) return l;
    return LogLevel::warning;
}

std::atomic<LogLevel>& level_ref() {
    static std::atomic<LogLevel> level{initial_level()};
    return level;
}

// The handler is shared, never called under the slot's lock: a handler may log, or produce through the
// library, or be replaced, while another thread is inside it.
struct HandlerSlot {
    std::mutex mutex;
    std::shared_ptr<const LogHandler> handler;
};
HandlerSlot& slot() {
    static HandlerSlot s;
    return s;
}

}  // namespace

std::string_view to_string(LogLevel level) {
    switch (level) {
        case LogLevel::debug: return "debug";
        case LogLevel::info: return "info";
        case LogLevel::warning: return "warning";
        case LogLevel::error: return "error";
        case LogLevel::off: return "off";
    }
    return "?";
}

void set_log_handler(LogHandler handler) {
    auto next = handler ? std::make_shared<const LogHandler>(std::move(handler)) : nullptr;
    std::lock_guard lock{slot().mutex};
    slot().handler = std::move(next);
}

void set_log_level(LogLevel level) { level_ref().store(level); }
LogLevel log_level() { return level_ref().load(); }

void log(LogLevel level, std::string_view message) noexcept {
    if (level == LogLevel::off || level < level_ref().load()) return;
    try {
        std::shared_ptr<const LogHandler> handler;
        {
            std::lock_guard lock{slot().mutex};
            handler = slot().handler;
        }
        if (handler) {
            (*handler)(level, message);
        } else {
            std::fprintf(stderr, "gracedb [%s] %.*s\n", to_string(level).data(), static_cast<int>(message.size()),
                         message.data());
        }
    } catch (...) {
        // A log handler that throws must not take the caller (maybe a C callback) down with it.
    }
}

}  // namespace gracedb
