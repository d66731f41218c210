// close() from one thread while another thread is inside a call of the same client (issue 22, item 4): the
// call ends promptly with a clean client_closed error (or, for a consumer's poll, nothing or a message),
// never a crash; later calls raise the same error. Before the fix the handle was destroyed under the running
// call (a use-after-free: Python's close() during poll() crashed the interpreter), or close() waited out the
// other thread's whole timeout. Each scenario runs 100 times; also under ASan and TSan
// (scripts/check-hardening.sh).
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <gracedb/testing/mock_cluster.hpp>
#include "rawkafka.hpp"

#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <latch>
#include <optional>
#include <thread>

using namespace gracedb::kafka;
using gracedb::Errc;
using gracedb::testing::MockCluster;
using gracedb::testing::RawClient;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kRepetitions = 100;
// The other thread's call would wait this long if close() did not end it: a close that returns well before it
// proves the call was cut short (the margin is wide: a close takes milliseconds).
constexpr auto kLongWait = 30s;

// What a call running in the other thread ended with.
struct Outcome {
    bool returned = false;            // returned normally (a consumer's poll: nothing or a message)
    std::optional<Errc> error;        // or raised this gracedb::Error
    std::string what;
};

using Call = std::function<void()>;

Outcome run(const Call& call) {
    Outcome o;
    try {
        call();
        o.returned = true;
    } catch (const gracedb::Error& e) {
        o.error = e.code();
        o.what = e.what();
    } catch (const std::exception& e) {
        o.what = std::string{"not a gracedb::Error: "} + e.what();
    }
    return o;
}

bool clean_close_error(const Outcome& o) { return o.error == Errc::client_closed; }

// Not a synchronisation (nothing tells from outside that the other thread is inside librdkafka's wait): a
// varying delay before close(), from none to 4 ms, so that the repetitions cover close() before the call got
// in, while it enters, and while it waits inside librdkafka.
void jitter(int rep) {
    if (rep % 5 != 0) std::this_thread::sleep_for(std::chrono::milliseconds{rep % 5});
}

// A mock cluster whose broker answers each produce request after a minute: a message produced to it stays
// in flight (with no error event meanwhile), so that a flush() waits and a poll() has nothing to serve.
struct SlowCluster {
    RawClient owner{RD_KAFKA_PRODUCER, {}};
    rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(owner.get(), 1);
    SlowCluster() { rd_kafka_mock_topic_create(mc, "mock.slow", 1, 1); }
    ~SlowCluster() { rd_kafka_mock_cluster_destroy(mc); }
    SlowCluster(const SlowCluster&) = delete;
    SlowCluster& operator=(const SlowCluster&) = delete;
    // The next produce request is answered after 2 * kLongWait.
    void delay_next_produce() const {
        const int rtt_ms = static_cast<int>(std::chrono::milliseconds{2 * kLongWait}.count());
        rd_kafka_mock_broker_push_request_error_rtts(mc, 1, 0 /* Produce */, 1, RD_KAFKA_RESP_ERR_NO_ERROR,
                                                     rtt_ms);
    }
    ProducerOptions options() const {
        return {.bootstrap_servers = rd_kafka_mock_cluster_bootstraps(mc),
                .topic = "slow",
                .instance_name = "mock",
                .kafka_config = {{"security.protocol", "plaintext"}}};
    }
};

// One repetition: a producer with a message in flight, `call` running in another thread (started, then the
// main thread closes at once), close(0) (which purges the message: a delivery error naming it), then checks.
// `call` gets the producer and a flag set once close() has returned.
using ProducerCall = std::function<void(Producer&, const std::atomic<bool>& close_returned)>;
void producer_close_during(const SlowCluster& cluster, int rep, const ProducerCall& call) {
    Producer p{cluster.options()};
    cluster.delay_next_produce();
    p.produce("in flight");
    std::latch started{1};
    std::atomic<bool> close_returned{false};
    Outcome outcome;
    std::thread other{[&] {
        started.count_down();
        outcome = run([&] { call(p, close_returned); });
    }};
    started.wait();
    jitter(rep);
    const auto t0 = Clock::now();
    try {
        p.close(0ms);
        ADD_FAILURE() << "rep " << rep << ": close(0) purged a message in flight and did not say so";
    } catch (const KafkaMessageDeliveryError& e) {
        EXPECT_EQ(e.code(), Errc::purged) << "rep " << rep << ": " << e.what();
    }
    const auto took = Clock::now() - t0;
    close_returned = true;
    other.join();
    ASSERT_LT(took, kLongWait / 2) << "rep " << rep << ": close() waited for the other thread's whole call";
    ASSERT_TRUE(clean_close_error(outcome))
        << "rep " << rep << ": the call in the other thread ended with "
        << (outcome.returned ? std::string{"a normal return"} : outcome.what);
    // Later calls: the same clean error (pending_messages() counts nothing once closed).
    for (const auto& later :
         {Call{[&] { p.poll(0ms); }}, Call{[&] { p.flush(0ms); }}, Call{[&] { p.produce("late"); }}})
        ASSERT_TRUE(clean_close_error(run(later))) << "rep " << rep;
    EXPECT_EQ(p.pending_messages(), 0u);
}

}  // namespace

TEST(CloseThreads, ProducerCloseWhileAnotherThreadPolls) {
    SlowCluster cluster;
    for (int rep = 0; rep < kRepetitions && !HasFatalFailure(); ++rep)
        producer_close_during(cluster, rep, [](Producer& p, const std::atomic<bool>&) {
            for (;;) p.poll(kLongWait);  // nothing to serve: only close() ends it
        });
}

TEST(CloseThreads, ProducerCloseWhileAnotherThreadFlushes) {
    SlowCluster cluster;
    for (int rep = 0; rep < kRepetitions && !HasFatalFailure(); ++rep)
        producer_close_during(cluster, rep, [](Producer& p, const std::atomic<bool>&) {
            for (;;) p.flush(kLongWait);  // the message stays in flight: only close() ends it
        });
}

// pending_messages() read librdkafka's queue lengths without holding the handle: close() destroyed it under
// the call (a use-after-free; ASan: heap-use-after-free in rd_kafka_outq_len).
TEST(CloseThreads, ProducerCloseWhileAnotherThreadCountsPendingMessages) {
    SlowCluster cluster;
    for (int rep = 0; rep < kRepetitions && !HasFatalFailure(); ++rep)
        producer_close_during(cluster, rep, [](Producer& p, const std::atomic<bool>& close_returned) {
            // Counts until close() has returned (from when it began, it counts nothing), then a call that
            // raises.
            while (!close_returned.load()) static_cast<void>(p.pending_messages());
            p.poll(0ms);
        });
}

TEST(CloseThreads, ConsumerCloseWhileAnotherThreadPolls) {
    MockCluster cluster;
    cluster.create_topic("mock.quiet", 1);
    const ConsumerOptions options{.bootstrap_servers = cluster.bootstrap_servers(),
                                  .topics = {"quiet"},
                                  .instance_name = "mock",
                                  .kafka_config = {{"security.protocol", "plaintext"}}};
    for (int rep = 0; rep < kRepetitions && !HasFatalFailure(); ++rep) {
        Consumer c{options};
        std::latch started{1};
        Outcome outcome;
        std::thread other{[&] {
            started.count_down();
            outcome = run([&] {
                for (;;)
                    if (c.poll(kLongWait)) return;  // nothing is produced: only close() ends it
            });
        }};
        started.wait();
        jitter(rep);
        const auto t0 = Clock::now();
        c.close(5s);
        const auto took = Clock::now() - t0;
        other.join();
        ASSERT_LT(took, kLongWait / 2) << "rep " << rep << ": close() waited for the other thread's poll";
        ASSERT_TRUE(outcome.returned || clean_close_error(outcome))
            << "rep " << rep << ": the poll in the other thread ended with " << outcome.what;
        for (const auto& later : {Call{[&] { c.poll(0ms); }}, Call{[&] { c.commit(); }},
                                  Call{[&] { c.wait_for_assignment(0ms); }},
                                  Call{[&] { c.subscribe("quiet"); }},
                                  Call{[&] { c.pause("mock.quiet", 0); }}})
            ASSERT_TRUE(clean_close_error(run(later))) << "rep " << rep;
    }
}

// Consumer: close() while another thread waits for its assignment (a loop of polls of its own).
TEST(CloseThreads, ConsumerCloseWhileAnotherThreadWaitsForItsAssignment) {
    MockCluster cluster;
    const ConsumerOptions options{.bootstrap_servers = cluster.bootstrap_servers(),
                                  .topics = {"never-created"},
                                  .instance_name = "mock",
                                  .kafka_config = {{"security.protocol", "plaintext"}}};
    for (int rep = 0; rep < kRepetitions && !HasFatalFailure(); ++rep) {
        Consumer c{options};
        std::latch started{1};
        Outcome outcome;
        std::thread other{[&] {
            started.count_down();
            outcome = run([&] { c.wait_for_assignment(kLongWait); });  // no topic: no assignment comes
        }};
        started.wait();
        jitter(rep);
        const auto t0 = Clock::now();
        c.close(5s);
        const auto took = Clock::now() - t0;
        other.join();
        ASSERT_LT(took, kLongWait / 2) << "rep " << rep << ": close() waited for the whole wait";
        ASSERT_TRUE(clean_close_error(outcome))
            << "rep " << rep << ": the wait ended with " << (outcome.returned ? "a return" : outcome.what);
    }
}
