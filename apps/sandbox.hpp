// The embedded sandbox: librdkafka's mock cluster, the GraceDB stand-in and a supervisor in one process.
#pragma once

#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/supervisor.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "detail/mock_cluster.hpp"

namespace gracedb::app {

class Sandbox {
public:
    /// Starts everything; the supervisor runs on a thread of its own.
    Sandbox();
    ~Sandbox();

    const std::string& bootstrap_servers() const { return cluster_->bootstrap_servers(); }
    std::string service_url() const { return standin_->service_url(); }
    const std::string& instance() const { return instance_; }
    std::string alerts_topic() const { return "gracedb-alerts." + instance_; }
    StandIn& standin() { return *standin_; }
    Supervisor& supervisor() { return *supervisor_; }
    /// Kafka settings a client of the sandbox needs (plaintext: the mock cluster has no SASL).
    static std::map<std::string, std::string> kafka_config() { return {{"security.protocol", "plaintext"}}; }
    /// Set when the supervisor thread failed (e.g. events lost to the mock cluster's retention).
    std::string failure() const;

private:
    std::unique_ptr<detail::MockCluster> cluster_;
    std::string instance_ = "gracedb-sandbox";
    std::unique_ptr<kafka::Producer> alerts_;
    std::unique_ptr<StandIn> standin_;
    std::unique_ptr<Supervisor> supervisor_;
    std::atomic<bool> stop_{false};
    mutable std::mutex failure_mutex_;
    std::string failure_;
    std::thread thread_;
};

}  // namespace gracedb::app
