// Private to the supervisor: its heartbeat. Every `interval` (SupervisorOptions::heartbeat_interval) the
// polling thread publishes one small JSON message to "<heartbeat_prefix>.<instance>" (outside the instance's
// prefix, like the alerts and dead letters): who it is (host, pid, group, version), how long it has run, its
// counters, and the produce-to-upload delay of the most recent events (p50/p99). `gracedb-kafka check` reads
// it ("supervisor alive"); `gracedb-kafka listen --heartbeat` shows it. Publishing never blocks the loop
// and a failure is only logged (at most once a minute): the heartbeat must not stop the uploads.
#pragma once

#include <gracedb/kafka/producer.hpp>
#include <gracedb/supervisor.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "common/deadline.hpp"

namespace gracedb::supervisor_detail {

struct HeartbeatIdentity {
    std::string instance, group, host, version;
    long pid = 0;
};

/// The delays the heartbeat summarises: the newest `kHeartbeatWindow` produce-to-upload delays.
inline constexpr std::size_t kHeartbeatWindow = 256;

/// The heartbeat message (README "heartbeat" / docs/replay-and-heartbeat.md):
/// {"type": "heartbeat", "instance", "group", "host", "pid", "version", "time" (Unix s), "started" (Unix s),
///  "uptime_s", "interval_s", "counters": {uploaded, already_uploaded, skipped, dead_lettered, retries,
///  dropped, commits, commit_failures, consumer_errors}, "in_flight", "blocked", "blocked_reason" (null
///  unless blocked),
///  "last_upload" (Unix s or null), "delay_ms": {"events", "p50", "p99", "max"} (nulls when no event yet)}.
nlohmann::json heartbeat_message(const HeartbeatIdentity& who, const SupervisorStats& stats,
                                 std::chrono::system_clock::time_point started,
                                 std::chrono::system_clock::time_point now,
                                 std::chrono::milliseconds interval);

class Heartbeat {
public:
    /// Builds the producer (throws as kafka::Producer does). `topic` is "<prefix>.<instance>".
    Heartbeat(kafka::ProducerOptions options, std::string topic, std::chrono::milliseconds interval,
              HeartbeatIdentity who);
    ~Heartbeat();
    /// True when the next heartbeat is due (cheap: call it every step).
    bool due() const { return next_.expired(); }
    /// Publishes one heartbeat (asynchronous) and serves the delivery reports of earlier ones.
    void publish(const SupervisorStats& stats);
    const std::string& topic() const { return topic_; }

private:
    void warn(const std::string& what);

    kafka::ProducerOptions options_;
    std::unique_ptr<kafka::Producer> producer_;
    std::string topic_;
    std::chrono::milliseconds interval_;
    HeartbeatIdentity who_;
    std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();
    detail::Deadline next_ = detail::Deadline::at({});
    detail::Deadline next_warning_ = detail::Deadline::at({});
};

/// The supervisor's heartbeat: to "<prefix>.<instance>" with the brokers and credentials of `connection`
/// (the dead-letter producer's options), this host, pid and library version.
std::unique_ptr<Heartbeat> make_heartbeat(const std::string& prefix, std::chrono::milliseconds interval,
                                          const std::string& instance, const std::string& group,
                                          kafka::ProducerOptions connection);

}  // namespace gracedb::supervisor_detail
