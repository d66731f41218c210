// gracedb-kafka check, step "supervisor": is a supervisor completing this instance's events? Reads its
// heartbeats (topic gracedb-heartbeat.<instance>, src/supervisor/heartbeat.hpp) of the last `bound`.
#pragma once

#include <chrono>
#include <string>

#include "tool.hpp"

namespace gracedb::app {

struct HeartbeatFinding {
    bool alive = false;    // a heartbeat within the bound (and the supervisor not blocked)
    std::string detail;    // "supervisor alive: last heartbeat 2 s ago, p50 delay 4.1 ms (...)" or why not
    std::string advice;    // what to do, when not alive
};

/// Replays the heartbeat topic over [now - bound, now] (since_gps/until_gps) and takes the newest heartbeat;
/// at most `wait` (a topic that does not exist is never assigned: at most 5 s then). Never throws: a
/// failure to read is a finding.
HeartbeatFinding find_heartbeat(const Connection& conn, std::chrono::seconds bound,
                                std::chrono::milliseconds wait);

}  // namespace gracedb::app
