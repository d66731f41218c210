// The fast fixture: librdkafka's mock cluster, in process, plaintext only.
#include <gtest/gtest.h>

#include <gracedb/testing/mock_cluster.hpp>
#include "rawkafka.hpp"

using gracedb::testing::MockCluster;
using gracedb::testing::RawClient;

TEST(MockCluster, ProducesAndConsumesBack) {
    MockCluster cluster;
    ASSERT_FALSE(cluster.bootstrap_servers().empty());
    cluster.create_topic("mock.roundtrip", 1);

    RawClient producer{RD_KAFKA_PRODUCER, {{"bootstrap.servers", cluster.bootstrap_servers()}}};
    for (int i = 0; i < 5; ++i) {
        auto d = producer.produce_sync("mock.roundtrip", "message " + std::to_string(i), "k" + std::to_string(i),
                                       {{"h", "v" + std::to_string(i)}});
        ASSERT_TRUE(d.reported);
        ASSERT_EQ(d.err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(d.err);
        EXPECT_EQ(d.offset, i);
    }
    RawClient consumer{RD_KAFKA_CONSUMER,
                       {{"bootstrap.servers", cluster.bootstrap_servers()}, {"group.id", "mock-test"}}};
    auto got = consumer.consume_from_beginning("mock.roundtrip", 5);
    ASSERT_EQ(got.size(), 5u);
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(got[i].value, "message " + std::to_string(i));
        EXPECT_EQ(got[i].key, "k" + std::to_string(i));
        ASSERT_EQ(got[i].headers.size(), 1u);
        EXPECT_EQ(got[i].headers[0].second, "v" + std::to_string(i));
    }
}

TEST(MockCluster, HasNoSasl) {
    // Documented limitation (and why authentication is proven on the real broker only).
    MockCluster cluster;
    RawClient client{RD_KAFKA_PRODUCER,
                     {{"bootstrap.servers", cluster.bootstrap_servers()},
                      {"security.protocol", "sasl_plaintext"},
                      {"sasl.mechanisms", "OAUTHBEARER"}},
                     std::string{"not.a.token"}};
    EXPECT_TRUE(client.wait_for_error(RD_KAFKA_RESP_ERR__AUTHENTICATION, std::chrono::seconds{10}))
        << client.errors_text();
}
