// Private to the supervisor: what its operators watch. Prometheus metrics (prometheus-cpp's core: registry and
// text format) and one small HTTP endpoint (cpp-httplib) on an optional listen address serving
//   /metrics  the Prometheus text format
//   /healthz  200 while the supervisor's loop runs (it stepped within the last 30 s), else 503
//   /readyz   200 while it consumes and is not failing for a reason of its own (blocked by a refusal: its token,
//             its permissions, a proxy), else 503 with the reason
// Metrics are updated from the polling thread and read by the endpoint's threads (prometheus-cpp is
// thread-safe).
#pragma once

#include <gracedb/kafka/topic_partition.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace httplib {
class Server;
}

namespace gracedb::supervisor_detail {

class Metrics {
public:
    Metrics();
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    /// One message outcome ("uploaded", "already-uploaded", "skipped", "dead-lettered", "dropped") or a retry
    /// ("retrying").
    void outcome(const std::string& name);
    void delay(double seconds);            // produce to upload, of an uploaded event
    void upload_duration(double seconds);  // one HTTP upload attempt, whatever its answer
    void commit(bool ok);
    void consumer_error();
    void gauges(std::size_t in_flight, bool blocked, std::size_t paused, double last_upload_unix_s);
    /// The consumer lag of the owned partitions (messages behind the high watermark); others are removed.
    void lags(const std::map<kafka::TopicPartition, std::int64_t>& lag);

    /// The Prometheus text format of everything.
    std::string text() const;

private:
    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Family<prometheus::Counter>* messages_;
    prometheus::Counter* commits_;
    prometheus::Counter* commit_failures_;
    prometheus::Counter* consumer_errors_;
    prometheus::Gauge* in_flight_;
    prometheus::Gauge* blocked_;
    prometheus::Gauge* paused_;
    prometheus::Gauge* last_upload_;
    prometheus::Histogram* delay_;
    prometheus::Histogram* upload_duration_;
    prometheus::Family<prometheus::Gauge>* lag_;
    std::map<kafka::TopicPartition, prometheus::Gauge*> lag_gauges_;
    std::map<std::string, prometheus::Counter*> outcome_counters_;
};

/// The HTTP endpoint. `health()` says whether the supervisor is alive and ready, and why not.
class MetricsServer {
public:
    struct Health {
        bool alive = true;
        bool ready = false;
        std::string reason;  // why not ready
    };
    /// Listens on `address` ("HOST:PORT"; port 0 picks a free one; "[::1]:PORT" for IPv6) at once; throws
    /// std::invalid_argument for a malformed address and std::runtime_error when it cannot listen.
    MetricsServer(const std::string& address, const Metrics& metrics, std::function<Health()> health);
    ~MetricsServer();
    int port() const { return port_; }

private:
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    int port_ = 0;
};

}  // namespace gracedb::supervisor_detail
