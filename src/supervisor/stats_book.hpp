// Private to the supervisor: its figures (SupervisorStats), written by the polling thread and read by any
// thread (Supervisor::stats()), and the one line logged and on_event call per message outcome.
#pragma once

#include <gracedb/supervisor.hpp>

#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "supervisor/job.hpp"
#include "supervisor/metrics.hpp"

namespace gracedb::supervisor_detail {

enum class Outcome { uploaded, already_uploaded, skipped, dead, transient, dropped };
const char* to_string(Outcome o) noexcept;

class StatsBook {
public:
    explicit StatsBook(std::function<void(const SupervisorEvent&)> on_event) : on_event_{std::move(on_event)} {}

    /// Counts, logs and reports (on_event) one outcome. `finished`: when the upload's answer came (the
    /// produce-to-upload delay ends there), default now.
    void report(const Job& job, Outcome outcome, const std::string& detail,
                std::optional<std::chrono::system_clock::time_point> finished = std::nullopt);
    void upload_duration(double seconds) { metrics_.upload_duration(seconds); }
    void consumer_error();
    void commit(bool ok);
    /// The gauges, after each step. `consuming`: the last poll succeeded; `own_fault`: blocked by a refusal.
    void gauges(std::size_t in_flight, bool blocked, bool own_fault, const std::string& blocked_reason,
                std::size_t paused, std::uint64_t dead_letter_rebuilds, bool consuming);
    SupervisorStats snapshot() const;
    Metrics& metrics() { return metrics_; }
    /// For /healthz and /readyz (any thread).
    MetricsServer::Health health() const;

private:
    Metrics metrics_;
    std::chrono::steady_clock::time_point last_step_ = std::chrono::steady_clock::now();
    bool consuming_ = false;
    bool own_fault_ = false;
    std::function<void(const SupervisorEvent&)> on_event_;
    mutable std::mutex mutex_;
    SupervisorStats stats_;
    std::deque<double> recent_delays_;
};

}  // namespace gracedb::supervisor_detail
