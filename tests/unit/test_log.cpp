// The log: one handler, called outside the library's locks.
#include <gracedb/log.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
struct RestoreLog {
    gracedb::LogLevel level = gracedb::log_level();
    ~RestoreLog() {
        gracedb::set_log_handler({});
        gracedb::set_log_level(level);
    }
};
}  // namespace

// Regression: the handler was called with the handler slot's mutex held, so a handler that logged (or used
// the library, which logs) deadlocked. Run on a thread with a deadline so a deadlock fails instead of hanging.
TEST(Log, AHandlerThatLogsFromInsideItselfDoesNotDeadlock) {
    RestoreLog restore;
    gracedb::set_log_level(gracedb::LogLevel::info);
    auto seen = std::make_shared<std::vector<std::string>>();
    auto mutex = std::make_shared<std::mutex>();
    gracedb::set_log_handler([seen, mutex](gracedb::LogLevel, std::string_view message) {
        {
            std::lock_guard lock{*mutex};
            seen->emplace_back(message);
        }
        if (message == "outer") gracedb::log(gracedb::LogLevel::warning, "inner");
    });
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    std::thread{[done] {
        gracedb::log(gracedb::LogLevel::info, "outer");
        done->set_value();
    }}.detach();
    ASSERT_EQ(finished.wait_for(20s), std::future_status::ready) << "logging from inside the handler deadlocked";
    std::lock_guard lock{*mutex};
    EXPECT_EQ(*seen, (std::vector<std::string>{"outer", "inner"}));
}

TEST(Log, AHandlerMayReplaceTheHandlerWhileItRuns) {
    RestoreLog restore;
    gracedb::set_log_level(gracedb::LogLevel::info);
    auto count = std::make_shared<int>(0);
    gracedb::set_log_handler([count](gracedb::LogLevel, std::string_view) {
        ++*count;
        gracedb::set_log_handler([](gracedb::LogLevel, std::string_view) {});  // destroys the running one's slot copy
    });
    gracedb::log(gracedb::LogLevel::info, "first");
    gracedb::log(gracedb::LogLevel::info, "second");  // the replacement takes it
    EXPECT_EQ(*count, 1);
}

TEST(Log, MessagesBelowTheThresholdNeverReachTheHandler) {
    RestoreLog restore;
    gracedb::set_log_level(gracedb::LogLevel::warning);
    int calls = 0;
    gracedb::set_log_handler([&calls](gracedb::LogLevel, std::string_view) { ++calls; });
    gracedb::log(gracedb::LogLevel::info, "dropped");
    gracedb::log(gracedb::LogLevel::error, "kept");
    gracedb::log(gracedb::LogLevel::off, "never a level of a message");
    EXPECT_EQ(calls, 1);
}
