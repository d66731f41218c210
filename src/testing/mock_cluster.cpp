#include <gracedb/testing/mock_cluster.hpp>

#include <stdexcept>

#include "common/rdkafka.hpp"  // rdkafka.h, which rdkafka_mock.h needs first

#include <librdkafka/rdkafka_mock.h>

namespace gracedb::testing {

struct GRACEDB_TESTING_NO_EXPORT MockCluster::Impl {
    detail::KafkaHandle owner;  // the mock cluster lives inside this handle and dies with it
    rd_kafka_mock_cluster_t* cluster = nullptr;
    std::string bootstrap;
    ~Impl() {
        if (cluster) rd_kafka_mock_cluster_destroy(cluster);
    }
};

MockCluster::MockCluster(int brokers) : impl_{std::make_unique<Impl>()} {
    char errstr[512];
    detail::KafkaConf conf{rd_kafka_conf_new()};
    // The owning handle never connects anywhere: it only hosts the cluster's threads.
    if (rd_kafka_conf_set(conf.get(), "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        throw std::runtime_error(std::string{"mock cluster: "} + errstr);
    // rd_kafka_new takes ownership of conf only on success.
    impl_->owner.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr));
    if (!impl_->owner) throw std::runtime_error(std::string{"mock cluster: cannot create its owner handle: "} + errstr);
    conf.release();  // owned by impl_->owner now
    impl_->cluster = rd_kafka_mock_cluster_new(impl_->owner.get(), brokers);
    if (!impl_->cluster) throw std::runtime_error("mock cluster: rd_kafka_mock_cluster_new failed");
    impl_->bootstrap = rd_kafka_mock_cluster_bootstraps(impl_->cluster);
}

MockCluster::~MockCluster() = default;

const std::string& MockCluster::bootstrap_servers() const { return impl_->bootstrap; }

void MockCluster::create_topic(std::string_view topic, int partitions) {
    const std::string name{topic};
    if (auto err = rd_kafka_mock_topic_create(impl_->cluster, name.c_str(), partitions, 1); err)
        throw std::runtime_error("mock cluster: cannot create topic \"" + name + "\": " + rd_kafka_err2str(err));
}

}  // namespace gracedb::testing
