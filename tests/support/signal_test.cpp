#include "signal_test.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

extern char** environ;

namespace gracedb::testing {

ProbeOutcome run_probe_and_signal(const std::string& probe, const std::string& mode, int sig,
                                  std::chrono::milliseconds deadline) {
    using Clock = std::chrono::steady_clock;
    ProbeOutcome outcome;
    const auto base = std::filesystem::temp_directory_path() / ("gracedb-probe-" + std::to_string(::getpid()));
    const auto ready = base.string() + ".ready";
    const auto out = base.string() + ".out";
    std::filesystem::remove(ready);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::string m = mode;
    std::string r = ready;
    std::string p = probe;
    char* argv[] = {p.data(), m.data(), r.data(), nullptr};
    pid_t pid = -1;
    if (posix_spawn(&pid, probe.c_str(), &actions, nullptr, argv, environ) != 0) return outcome;
    posix_spawn_file_actions_destroy(&actions);

    const auto wait_ready = Clock::now() + std::chrono::seconds{60};
    int status = 0;
    while (!std::filesystem::exists(ready) && Clock::now() < wait_ready) {
        if (::waitpid(pid, &status, WNOHANG) == pid) {  // died before streaming
            outcome.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            return outcome;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    // No sleep here: the probe writes the ready file after its stream installed the handlers, so the signal is
    // seen whether it arrives before the first poll or during one (both paths end the stream "by signal").
    const auto sent = Clock::now();
    ::kill(pid, sig);
    while (Clock::now() - sent < deadline) {
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            outcome.exited = true;
            outcome.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            outcome.after_signal = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    if (!outcome.exited) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
    }
    std::ifstream in{out};
    outcome.output.assign(std::istreambuf_iterator<char>{in}, {});
    std::filesystem::remove(ready);
    std::filesystem::remove(out);
    return outcome;
}

}  // namespace gracedb::testing
