// The consumer on librdkafka's mock cluster: options, messages, and clean shutdown on signals.
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <set>

#include <gracedb/testing/mock_cluster.hpp>
#include "signal_test.hpp"

using namespace gracedb::kafka;
using gracedb::testing::MockCluster;
using namespace std::chrono_literals;

TEST(ConsumerMock, OptionsAreChecked) {
    MockCluster cluster;
    ConsumerOptions o{.bootstrap_servers = cluster.bootstrap_servers(),
                      .instance_name = "mock",
                      .kafka_config = {{"security.protocol", "plaintext"}}};
    auto both = o;
    both.service_url = "https://gracedb.ligo.org/api/";
    EXPECT_THROW(Consumer{both}, std::invalid_argument);
    auto neither = o;
    neither.instance_name.reset();
    EXPECT_THROW(Consumer{neither}, std::invalid_argument);
    auto reset = o;
    reset.auto_offset_reset = "smallest";
    EXPECT_THROW(Consumer{reset}, std::invalid_argument);
    auto unknown = o;
    unknown.kafka_config["no.such.key"] = "x";
    EXPECT_THROW(Consumer{unknown}, std::invalid_argument);
    Consumer c{o};
    EXPECT_EQ(c.group_id().rfind("gracedb-", 0), 0u) << c.group_id();
    Consumer d{o};
    EXPECT_NE(c.group_id(), d.group_id()) << "ephemeral group ids are unique";
    EXPECT_THROW(c.subscribe("bad name"), std::invalid_argument);
}

// Regression: ids were gracedb-<host>-<pid>-<epoch ms>, so consumers created in the same millisecond shared a
// group and silently split its partitions (200 consumers made in a loop got 64 distinct ids).
TEST(ConsumerMock, EphemeralGroupIdsAreUniqueWhenCreatedInALoop) {
    MockCluster cluster;
    const ConsumerOptions o{.bootstrap_servers = cluster.bootstrap_servers(),
                            .instance_name = "mock",
                            .kafka_config = {{"security.protocol", "plaintext"}}};
    std::set<std::string> ids;
    constexpr int n = 100;
    for (int i = 0; i < n; ++i) {
        Consumer c{o};
        EXPECT_EQ(c.group_id().rfind("gracedb-", 0), 0u) << c.group_id();
        ids.insert(c.group_id());
    }
    EXPECT_EQ(ids.size(), static_cast<std::size_t>(n)) << "every ephemeral group id is distinct";
}

TEST(ConsumerMock, ReadsWhatTheProducerWrote) {
    MockCluster cluster;
    cluster.create_topic("mock.events", 1);
    Producer p{{.bootstrap_servers = cluster.bootstrap_servers(),
                .instance_name = "mock",
                .kafka_config = {{"security.protocol", "plaintext"}}}};
    p.produce(nlohmann::json{{"graceid", "G1"}}, {.topic = "events", .key = "G1", .headers = {{"h", "v"}}});
    ASSERT_EQ(p.flush(10s), 0);
    Consumer c{{.bootstrap_servers = cluster.bootstrap_servers(),
                .topics = {"events"},
                .instance_name = "mock",
                .auto_offset_reset = "earliest",
                .kafka_config = {{"security.protocol", "plaintext"}}}};
    std::optional<Message> m;
    for (const auto& msg : c.stream(1s, 1)) m = msg;
    ASSERT_TRUE(m);
    EXPECT_EQ(m->topic, "mock.events");
    EXPECT_EQ(m->key, "G1");
    EXPECT_EQ(m->json()["graceid"], "G1");
    ASSERT_EQ(m->headers.size(), 1u);
    EXPECT_EQ(m->headers[0].second, "v");
}

TEST(ConsumerMock, SerialSigtermEndsTheStreamAndRestoresTheHandler) {
    auto r = gracedb::testing::run_probe_and_signal(GRACEDB_STREAM_PROBE, "mock", SIGTERM, 5s);
    EXPECT_TRUE(r.exited) << "did not exit within 5 s of SIGTERM";
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("ended by signal, handlers restored"), std::string::npos) << r.output;
    EXPECT_LT(r.after_signal, 2s) << "within one poll timeout (500 ms) and a close";
}

TEST(ConsumerMock, SerialSigintEndsTheStreamAndRestoresTheHandler) {
    auto r = gracedb::testing::run_probe_and_signal(GRACEDB_STREAM_PROBE, "mock", SIGINT, 5s);
    EXPECT_TRUE(r.exited);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("ended by signal, handlers restored"), std::string::npos) << r.output;
}
