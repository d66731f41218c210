// ProducerOptions::interrupt against librdkafka's mock cluster: the hook runs between the slices of flush,
// produce_and_wait and close; its exception ends the wait at once and nothing queued is dropped (the message
// is still pending afterwards, and delivered once the broker is back).
#include <gracedb/kafka/producer.hpp>

#include <gtest/gtest.h>

#include "rawkafka.hpp"

#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <future>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

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

// A down cluster (or one that goes down), a producer whose hook throws at its 3rd call, a message whose
// deliveries are counted.
class ProducerInterrupt : public ::testing::Test {
protected:
    Cluster cluster;
    Hook hook;
    std::atomic<int> delivered{0};
    std::optional<Producer> p;

    ProduceOptions counted() {
        return {.topic = "t", .on_delivery = [this](const DeliveryReport& r) {
                    if (!r.error) ++delivered;
                }};
    }
    // A message queued on a cluster that was never reached.
    void queue_one_on_a_down_cluster() {
        cluster.down();
        hook.arm(3);
        p.emplace(options(cluster, hook));
        p->produce("kept", counted());
    }
    // `call` ends within a second with the hook's exception, at the hook's 3rd call.
    template <class Call>
    void expect_interrupted(Call&& call, const char* what) {
        const auto start = Clock::now();
        EXPECT_THROW(call(), Interrupted) << what;
        EXPECT_LT(Clock::now() - start, 1s) << "the hook's exception did not end " << what;
        EXPECT_EQ(hook.calls.load(), 3) << what;
        EXPECT_EQ(p->pending_messages(), 1u) << "the interrupted " << what << " dropped the message";
        cluster.up();
        hook.arm(0);
    }
};

}  // namespace

// A flush against a cluster that is down (never reached) waits, calling the hook between slices; the hook's
// exception ends it at once; the message stays queued and is delivered (to its on_delivery) once the broker
// is back. The old flush raised KafkaConnectionError at once and never called the hook.
TEST_F(ProducerInterrupt, FlushAgainstADownClusterEndsWithTheHooksExceptionAndKeepsTheMessage) {
    queue_one_on_a_down_cluster();
    expect_interrupted([&] { p->flush(10s); }, "flush");
    EXPECT_EQ(p->flush(20s), 0);
    EXPECT_EQ(delivered.load(), 1);
}

// produce_and_wait on a cluster that went down after a first delivery: the hook's exception ends the wait
// (raised, not turned into a report); the message is still pending, and its report reaches its on_delivery
// once the broker is back.
TEST_F(ProducerInterrupt, ProduceAndWaitEndsWithTheHooksExceptionAndTheMessageIsDeliveredLater) {
    p.emplace(options(cluster, hook));
    ASSERT_FALSE(p->produce_and_wait("first", {.topic = "t"}, 20s).error);
    cluster.down();
    hook.arm(3);
    expect_interrupted([&] { p->produce_and_wait("kept", counted(), 10s); }, "produce_and_wait");
    EXPECT_EQ(p->flush(20s), 0);
    EXPECT_EQ(delivered.load(), 1);
}

// close() with a hook: the hook's exception leaves the producer open with the message queued; a second
// close() delivers it.
TEST_F(ProducerInterrupt, AnInterruptedCloseLeavesTheProducerOpenAndCanBeCalledAgain) {
    queue_one_on_a_down_cluster();
    expect_interrupted([&] { p->close(10s); }, "close");
    EXPECT_NO_THROW(p->close(20s));
    EXPECT_EQ(delivered.load(), 1);
}

// Nothing queued: nothing to wait for, no hook call.
TEST_F(ProducerInterrupt, NoHookCallsWhenNothingIsQueued) {
    hook.arm(1);
    p.emplace(options(cluster, hook));
    EXPECT_EQ(p->flush(5s), 0);
    EXPECT_NO_THROW(p->close(5s));
    EXPECT_EQ(hook.calls.load(), 0);
}

// A hook that closes the producer (a Python signal handler: SIGTERM -> close()) while a flush waits on the
// same thread: close() must not wait for that flush, i.e. for itself (it did: the process hung). The flush
// ends with client_closed; close() reported the message it could not deliver.
TEST(ProducerInterruptClose, AHookThatClosesTheProducerEndsTheFlushInsteadOfWaitingForItself) {
    Cluster cluster;
    cluster.down();
    Producer* self = nullptr;
    int calls = 0;
    std::atomic<int> failed{0};
    ProducerOptions o{.bootstrap_servers = rd_kafka_mock_cluster_bootstraps(cluster.mc),
                      .instance_name = "mock",
                      .kafka_config = {{"security.protocol", "plaintext"}, {"reconnect.backoff.max.ms", "100"}},
                      .interrupt = [&] {
                          if (++calls == 2) self->close(500ms);  // close() calls the hook too: once only
                      }};
    Producer p{o};
    self = &p;
    p.produce(std::string_view{"x"}, {.topic = "interrupt", .on_delivery = [&](const DeliveryReport& r) {
                                          if (r.error) ++failed;
                                      }});
    const auto t0 = Clock::now();
    try {
        p.flush(10s);
        ADD_FAILURE() << "the flush returned although its producer was closed under it";
    } catch (const gracedb::Error& e) {
        EXPECT_EQ(e.code(), gracedb::Errc::client_closed) << e.what();
    }
    EXPECT_LT(Clock::now() - t0, 8s);
    EXPECT_EQ(failed.load(), 1) << "close() reported the message it could not deliver";
}

// flush() without a limit from a producer that never reached a broker (a wrong address) raises at once, as
// produce_and_wait does, instead of waiting for ever; with a limit it waits that time (a broker back within
// it delivers).
TEST(ProducerInterruptClose, AnUnlimitedFlushThatNeverReachedABrokerRaisesAtOnce) {
    Cluster cluster;
    cluster.down();
    Producer p{{.bootstrap_servers = rd_kafka_mock_cluster_bootstraps(cluster.mc),
                .instance_name = "mock",
                .flush_timeout = 500ms,
                .kafka_config = {{"security.protocol", "plaintext"}, {"reconnect.backoff.max.ms", "100"}}}};
    p.produce(std::string_view{"x"}, {.topic = "interrupt", .on_delivery = [](const DeliveryReport&) {}});
    // librdkafka reports "all brokers down" once: let it come before the flush begins (as under ASan, where the
    // flush used to wait for a report that had already been made). Not a synchronisation: the flush must
    // raise whether the report comes before or during it.
    std::this_thread::sleep_for(1s);
    auto result = std::async(std::launch::async, [&p] {
        try {
            p.flush();
            return gracedb::Errc{};
        } catch (const gracedb::Error& e) {
            return e.code();
        }
    });
    ASSERT_EQ(result.wait_for(20s), std::future_status::ready) << "flush() without a limit waited on";
    EXPECT_EQ(result.get(), gracedb::Errc::connection_failed);
}
