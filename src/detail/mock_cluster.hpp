// Private: librdkafka's built-in mock cluster (rdkafka_mock.h), a Kafka-protocol broker inside this process.
// No SASL, no TLS: clients must use security.protocol=plaintext. It keeps only the newest ~5 MB of each
// partition. Used by the fast tests and by the embedded sandbox.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "detail/rdkafka.hpp"

typedef struct rd_kafka_mock_cluster_s rd_kafka_mock_cluster_t;

namespace gracedb::detail {

class MockCluster {
public:
    /// Starts `brokers` mock brokers listening on 127.0.0.1 (ephemeral ports).
    /// Throws std::runtime_error with librdkafka's reason if they cannot be started.
    explicit MockCluster(int brokers = 1);
    ~MockCluster();
    MockCluster(const MockCluster&) = delete;
    MockCluster& operator=(const MockCluster&) = delete;

    /// "host:port,host:port" for bootstrap.servers.
    const std::string& bootstrap_servers() const { return bootstrap_; }

    /// Creates `topic` with `partitions` partitions; throws std::runtime_error on failure.
    void create_topic(std::string_view topic, int partitions = 1);

private:
    KafkaHandle owner_;  // the mock cluster lives inside this handle and dies with it
    rd_kafka_mock_cluster_t* cluster_ = nullptr;
    std::string bootstrap_;
};

}  // namespace gracedb::detail
