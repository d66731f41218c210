// gracedb::testing::MockCluster: librdkafka's built-in mock cluster, a Kafka-protocol broker inside this
// process, for fast tests and the embedded sandbox. No SASL and no TLS: clients must use
// `security.protocol=plaintext`. It keeps only the newest ~5 MB of each partition, so a test that reads a big
// topic from the beginning silently starts later: bursts and large events belong on a real broker.
#pragma once

#include <gracedb/testing/export.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace gracedb::testing {

/// librdkafka's mock cluster in this process (see the top of this header). Not movable.
class GRACEDB_TESTING_EXPORT MockCluster {
public:
    /// Starts `brokers` mock brokers listening on 127.0.0.1 (ephemeral ports).
    /// Throws std::runtime_error with librdkafka's reason if they cannot be started.
    explicit MockCluster(int brokers = 1);
    ~MockCluster();
    MockCluster(const MockCluster&) = delete;
    MockCluster& operator=(const MockCluster&) = delete;

    /// "host:port,host:port" for bootstrap.servers.
    const std::string& bootstrap_servers() const;

    /// Creates `topic` with `partitions` partitions; throws std::runtime_error on failure. Thread-safe.
    void create_topic(std::string_view topic, int partitions = 1);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gracedb::testing
