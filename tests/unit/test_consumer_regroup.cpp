// A consumer whose group was assigned nothing of a subscribed topic that exists (librdkafka 2.0.2 never
// rejoins then) notices it and rejoins by itself: the consumer's assignment watch, on the mock cluster.
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include "log_capture.hpp"

using namespace gracedb::kafka;
using namespace std::chrono_literals;

namespace {

constexpr std::int16_t kJoinGroup = 11;
constexpr std::int16_t kSyncGroup = 14;

// A raw mock cluster of one broker (broker 1: every group's coordinator), so that errors can be injected.
struct RawCluster {
    rd_kafka_t* handle = nullptr;
    rd_kafka_mock_cluster_t* mc = nullptr;
    std::string bootstrap;
    RawCluster() {
        char err[256];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err);
        handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        if (!handle) throw std::runtime_error(err);
        mc = rd_kafka_handle_mock_cluster(handle);
        bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
    }
    ~RawCluster() { rd_kafka_destroy(handle); }
    RawCluster(const RawCluster&) = delete;
    RawCluster& operator=(const RawCluster&) = delete;

    std::size_t pending(std::int16_t api) const {
        std::size_t n = 0;
        rd_kafka_mock_broker_error_stack_cnt(mc, 1, api, &n);
        return n;
    }
    // Waits until the broker has taken the request of `api` whose answer was queued by the test.
    bool taken(std::int16_t api, std::chrono::seconds limit) const {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (pending(api) > 0)
            if (std::chrono::steady_clock::now() > end) return false;
            else std::this_thread::sleep_for(5ms);  // polls a condition; no event to wait on
        return true;
    }
};

}  // namespace

// Regression (the chaos supervisor that consumed nothing for 300 s): the group leader's assignor asked a
// broker that did not know the new topic yet and assigned none of it, while the member's own metadata had
// it; librdkafka then saw "no change" at every metadata refresh and never rejoined. Here the topic is errored
// on the mock just while the assignor runs (between the member's JoinGroup and its SyncGroup), then is back.
TEST(ConsumerRegroup, APatternSubscriptionAssignedNothingOfAnExistingTopicRejoinsByItself) {
    RawCluster cluster;
    const std::string instance = "regroup" + std::to_string(std::random_device{}() % 1000000);
    const std::string topic = instance + ".pipe";
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster.mc, topic.c_str(), 2, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    // Markers: the test sees when the broker took the JoinGroup and the SyncGroup (answers unchanged).
    rd_kafka_mock_broker_push_request_error_rtts(cluster.mc, 1, kJoinGroup, 1, RD_KAFKA_RESP_ERR_NO_ERROR, 0);
    rd_kafka_mock_broker_push_request_error_rtts(cluster.mc, 1, kSyncGroup, 1, RD_KAFKA_RESP_ERR_NO_ERROR, 0);
    gracedb::testing::LogCapture log{gracedb::LogLevel::warning};
    Consumer c{{.bootstrap_servers = cluster.bootstrap,
                .instance_name = instance,
                .group_id = instance + "-group",
                // The mock answers a member's rejoin after the session timeout less 1 s: keep it short.
                .kafka_config = {{"security.protocol", "plaintext"}, {"session.timeout.ms", "6000"}}}};
    c.subscribe_all();
    // The mock answers a first JoinGroup after 3 s (its initial rebalance delay): the topic is "unknown" from
    // now until the leader's assignor has run, which is before librdkafka's first periodic refresh (5 s).
    ASSERT_TRUE(cluster.taken(kJoinGroup, 30s)) << "the consumer joins its group";
    rd_kafka_mock_topic_set_error(cluster.mc, topic.c_str(), RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    ASSERT_TRUE(cluster.taken(kSyncGroup, 30s)) << "the leader's assignor ran";
    rd_kafka_mock_topic_set_error(cluster.mc, topic.c_str(), RD_KAFKA_RESP_ERR_NO_ERROR);

    ASSERT_TRUE(c.wait_for_assignment(40s)) << "the group rejoined and got the topic's partitions";
    EXPECT_EQ(c.assigned_partitions().size(), 2u);
    const auto logged = log.text();
    EXPECT_NE(logged.find("did not assign them; rejoining the group"), std::string::npos) << logged;
    EXPECT_NE(logged.find(topic), std::string::npos) << "the warning names the topic: " << logged;
}

// Review regression: close() took the watch away before waiting for the calls inside, so a subscribe() in
// another thread could start a new watch that went on using the librdkafka handle close() then destroyed (a
// use-after-free every refresh interval; ASan names it). The watch is now stopped once no call is inside.
TEST(ConsumerRegroup, ACloseWhileAnotherThreadSubscribesLeavesNoWatchOnTheClosedHandle) {
    RawCluster cluster;
    const std::string instance = "regroupclose" + std::to_string(std::random_device{}() % 1000000);
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster.mc, (instance + ".pipe").c_str(), 1, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int round = 0; round < 10; ++round) {
        auto c = std::make_unique<Consumer>(ConsumerOptions{
            .bootstrap_servers = cluster.bootstrap,
            .instance_name = instance,
            .group_id = instance + "-group" + std::to_string(round),
            // A watch check every 100 ms: one left running meets the destroyed handle at once.
            .kafka_config = {{"security.protocol", "plaintext"},
                             {"topic.metadata.refresh.interval.ms", "100"}}});
        std::atomic<bool> closed{false};
        std::thread subscriber{[&] {
            while (!closed.load()) {
                try {
                    c->subscribe({"pipe"});
                    (void)c->poll(1ms);  // the watch judges only a consumer that polls
                } catch (const gracedb::Error&) {  // client_closed once close() began
                }
            }
        }};
        std::this_thread::sleep_for(20ms);  // let the subscriber loop run: close() then meets it inside
        c->close(2s);
        closed.store(true);
        subscriber.join();
        std::this_thread::sleep_for(300ms);  // three watch periods on the closed handle, if a watch ran
        c.reset();
    }
    SUCCEED() << "no watch touched a closed consumer's handle (a use-after-free would crash or fail ASan)";
}
