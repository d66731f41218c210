// Test support: the test process's log kept (warnings and errors also printed as usual), so that a test that
// stalls can print what librdkafka and the library did (e.g. a chaos test's producer with its idempotence and
// topic debug contexts, the supervisor's rebalances) without printing it on every run. LogCapture
// (log_capture.hpp) is the other keeper: it waits for a line and prints nothing.
#pragma once

#include <gracedb/log.hpp>

#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace gracedb::testing {

/// The library's log kept (its last 50,000 lines, from level `from` on while it lives), each line stamped with the
/// seconds since the keeper was made; the default handler and the previous level restored at its end.
class LogKeeper {
public:
    explicit LogKeeper(LogLevel from = LogLevel::debug) : previous_level_{log_level()} {
        set_log_level(from);
        // The handler owns what it writes to: a librdkafka thread may still be inside it after the reset.
        set_log_handler([kept = kept_](LogLevel level, std::string_view m) {
            if (level >= LogLevel::warning)
                std::fprintf(stderr, "gracedb [%s] %.*s\n", std::string{to_string(level)}.c_str(),
                             static_cast<int>(m.size()), m.data());
            char stamp[32];
            std::snprintf(stamp, sizeof stamp, "%8.3f ",
                          std::chrono::duration<double>(std::chrono::steady_clock::now() - kept->start).count());
            std::lock_guard lock{kept->mutex};
            if (kept->lines.size() >= 50000) kept->lines.pop_front();  // the newest say most about a stall
            kept->lines.push_back(stamp + std::string{m});
        });
    }
    ~LogKeeper() {
        set_log_level(previous_level_);  // first: no line below it reaches the default handler in between
        set_log_handler(nullptr);
    }
    LogKeeper(const LogKeeper&) = delete;
    LogKeeper& operator=(const LogKeeper&) = delete;
    /// How many kept lines contain `part`.
    std::size_t count(std::string_view part) const {
        std::lock_guard lock{kept_->mutex};
        std::size_t k = 0;
        for (const auto& l : kept_->lines) k += l.find(part) != std::string::npos ? 1 : 0;
        return k;
    }
    /// The last `n` lines, each indented and followed by "\n".
    std::string last(std::size_t n) const {
        std::lock_guard lock{kept_->mutex};
        return tail(kept_->lines, n, [](const std::string& l) -> const std::string& { return l; });
    }
    /// The last `n` lines about the producer's state (not its per-message or metadata chatter).
    std::string producer_state(std::size_t n) const {
        static const char* const wanted[] = {"IDEMP", "DRAIN", "PID", "TOPICUPD", "BRKDELGT", "BROKERUA", "FAIL",
                                             "REQTMOUT", "ERROR", "FATAL", "Kafka producer", "SciToken", "STATE",
                                             "PARTCNT", "RETRY", "TIMEOUT", "LEADER", "WARN", "SEQ", "INFLIGHT",
                                             "TOPICPROP", "notexist", "does not exist", "Error in metadata",
                                             "REMOVE", "UAS"};
        std::lock_guard lock{kept_->mutex};
        std::vector<const std::string*> picked;
        for (const auto& l : kept_->lines)
            for (const char* k : wanted)
                if (l.find(k) != std::string::npos) {
                    picked.push_back(&l);
                    break;
                }
        return tail(picked, n, [](const std::string* l) -> const std::string& { return *l; });
    }

private:
    // The last `n` of `lines` (a deque of lines or a vector of pointers to them: `text` reads one), each
    // indented and followed by "\n".
    template <class Lines, class Text>
    static std::string tail(const Lines& lines, std::size_t n, Text text) {
        std::string out;
        for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i)
            out += "  " + text(lines[i]) + "\n";
        return out;
    }
    struct Kept {
        const std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
        std::mutex mutex;
        std::deque<std::string> lines;
    };
    LogLevel previous_level_;
    std::shared_ptr<Kept> kept_ = std::make_shared<Kept>();
};

}  // namespace gracedb::testing
