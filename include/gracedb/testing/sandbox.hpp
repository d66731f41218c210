// gracedb::testing::Sandbox: a whole GraceDB-over-Kafka system in one process, for demos and for users' own
// tests: librdkafka's mock cluster (plaintext, no SASL), the GraceDB stand-in and a supervisor that uploads
// what pipelines publish. Clients use `bootstrap_servers()`, `service_url()` and `kafka_config()`. The service
// URL is http://localhost:<port>/api/ (it resolves for every client on the machine), so the instance, which
// clients derive from it, is "localhost": topics "localhost.<pipeline>".
#pragma once

#include <gracedb/kafka/producer.hpp>
#include <gracedb/supervisor.hpp>
#include <gracedb/testing/export.hpp>
#include <gracedb/testing/mock_cluster.hpp>
#include <gracedb/testing/standin.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace gracedb::testing {

/// Mock cluster + GraceDB stand-in + supervisor in this process (see the top of this header). Not movable;
/// the destructor stops the supervisor and the rest.
class GRACEDB_TESTING_EXPORT Sandbox {
public:
    /// Starts everything; the supervisor runs on a thread of its own. Throws std::runtime_error when a part
    /// cannot start (e.g. no free port).
    Sandbox();
    ~Sandbox();
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    /// The mock cluster's brokers, for bootstrap_servers.
    const std::string& bootstrap_servers() const { return cluster_->bootstrap_servers(); }
    /// The stand-in's service URL, `http://localhost:<port>/api/`.
    std::string service_url() const { return standin_->service_url(); }
    /// The Kafka instance, "localhost".
    const std::string& instance() const { return instance_; }
    /// Where the stand-in's "new" alerts go: "gracedb-alerts.localhost" (outside the instance's topics).
    std::string alerts_topic() const { return "gracedb-alerts." + instance_; }
    /// The GraceDB stand-in (its events, alerts and test hooks).
    StandIn& standin() { return *standin_; }
    /// The supervisor (its stats()); it runs on the sandbox's own thread.
    Supervisor& supervisor() { return *supervisor_; }
    /// Kafka settings a client of the sandbox needs (plaintext: the mock cluster has no SASL).
    static std::map<std::string, std::string> kafka_config() { return {{"security.protocol", "plaintext"}}; }
    /// Set when the supervisor thread failed (e.g. events lost to the mock cluster's retention).
    std::string failure() const;

private:
    std::unique_ptr<MockCluster> cluster_;
    std::string instance_ = "localhost";  // = derive_instance_name(service_url()): "http://localhost:<port>/api/"
    std::unique_ptr<kafka::Producer> alerts_;
    std::unique_ptr<StandIn> standin_;
    std::unique_ptr<Supervisor> supervisor_;
    std::atomic<bool> stop_{false};
    mutable std::mutex failure_mutex_;
    std::string failure_;
    std::thread thread_;
};

}  // namespace gracedb::testing
