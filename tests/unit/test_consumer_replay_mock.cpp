// Replay from a GPS time on librdkafka's mock cluster, which cannot look up offsets by time (it answers "no
// such offset" for every timestamp): the consumer reads such partitions from their beginning and skips the
// messages stamped before since_gps, so the window is the same as on a real broker (tests/integration/
// test_replay.cpp) and the sandbox can replay.
#include <gracedb/kafka.hpp>
#include <gracedb/testing/mock_cluster.hpp>
#include <gtest/gtest.h>

#include <set>

#include "rawkafka.hpp"

using namespace gracedb::kafka;
using gracedb::testing::MockCluster;
using namespace std::chrono_literals;

TEST(ConsumerReplayMock, TheWindowOnABrokerThatCannotLookUpOffsetsByTime) {
    MockCluster cluster;
    cluster.create_topic("mock.timed", 2);
    const auto base_ms = (std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count() - 600) * 1000;
    gracedb::testing::RawClient producer{RD_KAFKA_PRODUCER, {{"bootstrap.servers", cluster.bootstrap_servers()}}};
    std::set<std::string> want;
    for (int p = 0; p < 2; ++p)
        for (int i = 0; i < 8; ++i) {
            const std::string value = "p" + std::to_string(p) + "-" + std::to_string(i);
            ASSERT_EQ(rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC("mock.timed"), RD_KAFKA_V_PARTITION(p),
                                        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                        RD_KAFKA_V_TIMESTAMP(base_ms + i * 1000),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                      RD_KAFKA_RESP_ERR_NO_ERROR);
            if (i >= 2 && i < 6) want.insert(value);
        }
    ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    auto gps = [](std::int64_t ms) { return static_cast<double>(ms) / 1000.0 - 315964800.0 + 18.0; };
    Consumer c{{.bootstrap_servers = cluster.bootstrap_servers(),
                .topics = {"timed"},
                .instance_name = "mock",
                .kafka_config = {{"security.protocol", "plaintext"}},
                .since_gps = gps(base_ms + 2000),
                .until_gps = gps(base_ms + 6000)}};
    std::multiset<std::string> got;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!c.replay_finished() && std::chrono::steady_clock::now() < deadline)
        if (auto m = c.poll(200ms)) got.insert(m->value);
    EXPECT_TRUE(c.replay_finished());
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), want);
    EXPECT_EQ(got.size(), want.size()) << "no duplicates";
}
