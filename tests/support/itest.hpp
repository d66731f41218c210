// Test support for integration tests: a private token environment per test, and running programs.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "testrig.hpp"

namespace gracedb::testing {

/// Points WLCG discovery at a private folder for the test's lifetime: $BEARER_TOKEN unset,
/// $BEARER_TOKEN_FILE = <dir>/token, $XDG_RUNTIME_DIR = <dir>. Restores the environment at the end.
class TokenEnv {
public:
    TokenEnv();
    ~TokenEnv();
    TokenEnv(const TokenEnv&) = delete;
    TokenEnv& operator=(const TokenEnv&) = delete;

    /// Mints a rig token with `spec` valid for `lifetime` and writes it where discovery finds it.
    std::string write_token(TokenSpec spec = {}, std::chrono::seconds lifetime = std::chrono::minutes{10});
    /// Removes the token file.
    void remove_token();
    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path token_file() const { return dir_ / "token"; }

private:
    std::filesystem::path dir_;
    std::map<std::string, std::string> saved_;
};

/// Renews the token on disk every `period` with a fresh `lifetime` (as htgettoken in cron would), on its own
/// thread until destroyed.
class TokenRenewer {
public:
    TokenRenewer(TokenEnv& env, std::chrono::seconds lifetime, std::chrono::seconds period);
    ~TokenRenewer();
    TokenRenewer(const TokenRenewer&) = delete;
    TokenRenewer& operator=(const TokenRenewer&) = delete;
    std::atomic<int> renewals{0};

private:
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

/// Runs a shell command, returns its standard output; throws if it exits non-zero.
std::string run_command(const std::string& command);

/// "<stem>-<time>-<random>": a fresh name for a topic or group.
std::string unique_name(const std::string& stem);

/// The shared test data folder (events/, gracedb/), or empty with a loud message on stderr when absent.
std::filesystem::path shared_data_dir();

}  // namespace gracedb::testing

namespace gracedb::testing {
/// Creates `topic` with `partitions` partitions through the rig's plaintext (admin) listener.
void create_topic(const std::string& topic, int partitions);
}  // namespace gracedb::testing

#include <sys/types.h>

namespace gracedb::testing {
/// A child process (the tool under test), its output in `log`.
struct Child {
    pid_t pid = -1;
    std::string log;
};
/// Starts `argv` with the current environment plus `env` overrides; stdout and stderr go to `log`.
Child spawn_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                    const std::string& log);
/// Waits at most `timeout` for the child to exit; its exit status (128+signal if killed), or -1 on timeout.
int wait_process(pid_t pid, std::chrono::milliseconds timeout);
}  // namespace gracedb::testing
