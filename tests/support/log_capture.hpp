// Test support: the library's log captured for a test's lifetime (every line from a chosen level), to read
// whole or to wait for a line; the default handler and level (warning) are restored on exit.
#pragma once

#include <gracedb/log.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace gracedb::testing {

class LogCapture {
public:
    explicit LogCapture(LogLevel level = LogLevel::debug) {
        set_log_level(level);
        set_log_handler([this](LogLevel, std::string_view m) { add(std::string{m}); });
    }
    ~LogCapture() {
        set_log_handler(nullptr);
        set_log_level(LogLevel::warning);
    }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    /// Adds a line of the test's own (e.g. an exception's text), to be checked with the log.
    void add(std::string line) {
        std::lock_guard lock{mutex_};
        lines_.push_back(std::move(line));
        cv_.notify_all();
    }

    /// Every line so far, each followed by "\n".
    std::string text() const {
        std::lock_guard lock{mutex_};
        std::string out;
        for (const auto& l : lines_) out.append(l).append("\n");
        return out;
    }

    /// Waits until a line contains every one of `parts`; false if none did within `timeout`.
    bool wait_for(const std::vector<std::string>& parts, std::chrono::milliseconds timeout) {
        std::unique_lock lock{mutex_};
        return cv_.wait_for(lock, timeout, [&] {
            return std::any_of(lines_.begin(), lines_.end(), [&](const std::string& l) {
                return std::all_of(parts.begin(), parts.end(),
                                   [&](const std::string& p) { return l.find(p) != std::string::npos; });
            });
        });
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::string> lines_;
};

}  // namespace gracedb::testing
