// ProducerOptions::interrupt against librdkafka's mock cluster: the hook runs between the slices of flush,
// produce_and_wait and close; its exception ends the wait at once and nothing queued is dropped (the message
// is still pending afterwards, and delivered once the broker is back).
#include <gracedb/kafka/producer.hpp>

#include <gtest/gtest.h>

#include "rawkafka.hpp"

#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>

using namespace gracedb::kafka;
using gracedb::testing::RawClient;
using namespace std::chrono_literals;

namespace {

struct Interrupted : std::runtime_error {
    Interrupted() : std::runtime_error("interrupted by the hook") {}
};

// A one-broker mock cluster that can be taken down and brought back.
struct Cluster {
    RawClient owner{RD_KAFKA_PRODUCER, {}};
    rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(owner.get(), 1);
    ~Cluster() { rd_kafka_mock_cluster_destroy(mc); }
    void down() { rd_kafka_mock_broker_set_down(mc, 1); }
    void up() { rd_kafka_mock_broker_set_up(mc, 1); }
};

// The hook counts its calls and throws at the `throw_at`-th (0: never).
struct Hook {
    std::atomic<int> calls{0};
    std::atomic<int> throw_at{0};
    void arm(int n) {
        calls = 0;
        throw_at = n;
    }
};

ProducerOptions options(Cluster& c, Hook& hook) {
    return {.bootstrap_servers = rd_kafka_mock_cluster_bootstraps(c.mc),
            .instance_name = "mock",
            .kafka_config = {{"security.protocol", "plaintext"}, {"reconnect.backoff.max.ms", "100"}},
            .interrupt = [&hook] {
                if (++hook.calls == hook.throw_at) throw Interrupted{};
            }};
}

using Clock = std::chrono::steady_clock;

}  // namespace

// A flush against a cluster that is down (never reached) waits, calling the hook between slices; the hook's
// exception ends it at once; the message stays queued and is delivered (to its on_delivery) once the broker
// is back. The old flush raised KafkaConnectionError at once and never called the hook.
TEST(ProducerInterrupt, FlushAgainstADownClusterEndsWithTheHooksExceptionAndKeepsTheMessage) {
    Cluster cluster;
    cluster.down();
    Hook hook;
    hook.arm(3);
    Producer p{options(cluster, hook)};
    std::atomic<int> delivered{0};
    p.produce("kept", {.topic = "t", .on_delivery = [&](const DeliveryReport& r) {
                           if (!r.error) ++delivered;
                       }});
    const auto start = Clock::now();
    EXPECT_THROW(p.flush(10s), Interrupted);
    EXPECT_LT(Clock::now() - start, 1s) << "the hook's exception did not end the flush";
    EXPECT_EQ(hook.calls.load(), 3);
    EXPECT_EQ(p.pending_messages(), 1u) << "the interrupted flush dropped the message";
    cluster.up();
    hook.arm(0);
    EXPECT_EQ(p.flush(20s), 0);
    EXPECT_EQ(delivered.load(), 1);
}

// produce_and_wait on a cluster that went down after a first delivery: the hook's exception ends the wait
// (raised, not turned into a report); the message is still pending, and its report reaches its on_delivery
// once the broker is back.
TEST(ProducerInterrupt, ProduceAndWaitEndsWithTheHooksExceptionAndTheMessageIsDeliveredLater) {
    Cluster cluster;
    Hook hook;
    Producer p{options(cluster, hook)};
    ASSERT_FALSE(p.produce_and_wait("first", {.topic = "t"}, 20s).error);
    cluster.down();
    hook.arm(3);
    std::atomic<int> delivered{0};
    const auto start = Clock::now();
    EXPECT_THROW(p.produce_and_wait("kept", {.topic = "t", .on_delivery = [&](const DeliveryReport& r) {
                                                 if (!r.error) ++delivered;
                                             }},
                                    10s),
                 Interrupted);
    EXPECT_LT(Clock::now() - start, 1s) << "the hook's exception did not end the wait";
    EXPECT_EQ(hook.calls.load(), 3);
    EXPECT_EQ(p.pending_messages(), 1u) << "the interrupted wait dropped the message";
    cluster.up();
    hook.arm(0);
    EXPECT_EQ(p.flush(20s), 0);
    EXPECT_EQ(delivered.load(), 1);
}

// close() with a hook: the hook's exception leaves the producer open with the message queued; a second
// close() delivers it.
TEST(ProducerInterrupt, AnInterruptedCloseLeavesTheProducerOpenAndCanBeCalledAgain) {
    Cluster cluster;
    cluster.down();
    Hook hook;
    hook.arm(3);
    Producer p{options(cluster, hook)};
    std::atomic<int> delivered{0};
    p.produce("kept", {.topic = "t", .on_delivery = [&](const DeliveryReport& r) {
                           if (!r.error) ++delivered;
                       }});
    const auto start = Clock::now();
    EXPECT_THROW(p.close(10s), Interrupted);
    EXPECT_LT(Clock::now() - start, 1s) << "the hook's exception did not end the close";
    EXPECT_EQ(p.pending_messages(), 1u) << "the interrupted close dropped the message";
    cluster.up();
    hook.arm(0);
    EXPECT_NO_THROW(p.close(20s));
    EXPECT_EQ(delivered.load(), 1);
}

// Nothing queued: nothing to wait for, no hook call.
TEST(ProducerInterrupt, NoHookCallsWhenNothingIsQueued) {
    Cluster cluster;
    Hook hook;
    hook.arm(1);
    Producer p{options(cluster, hook)};
    EXPECT_EQ(p.flush(5s), 0);
    EXPECT_NO_THROW(p.close(5s));
    EXPECT_EQ(hook.calls.load(), 0);
}
