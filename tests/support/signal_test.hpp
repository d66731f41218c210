// Test support: run tests/support/stream_probe, signal it, and check how it ended.
#pragma once

#include <chrono>
#include <string>

namespace gracedb::testing {

struct ProbeOutcome {
    bool exited = false;    // by itself, within the deadline
    int status = -1;        // its exit status
    std::string output;     // what it printed
    std::chrono::milliseconds after_signal{0};
};

/// Starts `probe mode`, waits until it streams, sends `sig`, and waits at most `deadline` for it to exit.
ProbeOutcome run_probe_and_signal(const std::string& probe, const std::string& mode, int sig,
                                  std::chrono::milliseconds deadline);

}  // namespace gracedb::testing
