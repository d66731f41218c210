#include "detail/mock_cluster.hpp"

#include <librdkafka/rdkafka_mock.h>

#include <stdexcept>

namespace gracedb::detail {

MockCluster::MockCluster(int brokers) {
    char errstr[512];
    KafkaConf conf{rd_kafka_conf_new()};
    // The owning handle never connects anywhere: it only hosts the cluster's threads.
    if (rd_kafka_conf_set(conf.get(), "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        throw std::runtime_error(std::string{"mock cluster: "} + errstr);
    // rd_kafka_new takes ownership of conf only on success.
    owner_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr));
    if (!owner_) throw std::runtime_error(std::string{"mock cluster: cannot create its owner handle: "} + errstr);
    conf.release();  // owned by owner_ now
    cluster_ = rd_kafka_mock_cluster_new(owner_.get(), brokers);
    if (!cluster_) throw std::runtime_error("mock cluster: rd_kafka_mock_cluster_new failed");
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_);
}

MockCluster::~MockCluster() {
    if (cluster_) rd_kafka_mock_cluster_destroy(cluster_);
}

void MockCluster::create_topic(std::string_view topic, int partitions) {
    const std::string name{topic};
    if (auto err = rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1); err)
        throw std::runtime_error("mock cluster: cannot create topic \"" + name + "\": " + rd_kafka_err2str(err));
}

}  // namespace gracedb::detail
