// ConsumerOptions::interrupt on librdkafka's mock cluster: the hook runs between the slices of every
// blocking wait of the consumer (poll, the stream, wait_for_assignment, close), its exception ends the wait,
// and nothing is lost: a message not yet returned comes with the next call, an interrupted close finishes.
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gracedb/testing/mock_cluster.hpp>
#include "rawkafka.hpp"

#include <librdkafka/rdkafka_mock.h>

using namespace gracedb::kafka;
using gracedb::testing::MockCluster;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Interrupted {};

// A hook that counts its calls, notes the thread that made them and throws on its `throw_at`-th call while
// armed.
struct Hook {
    std::atomic<int> calls{0};
    std::atomic<bool> armed{true};
    std::atomic<bool> other_thread{false};
    int throw_at = 3;
    std::thread::id waiter = std::this_thread::get_id();
    std::function<void()> fn() {
        return [this] {
            if (std::this_thread::get_id() != waiter) other_thread = true;
            if (++calls >= throw_at && armed) throw Interrupted{};
        };
    }
};

ConsumerOptions options(const std::string& bootstrap, Hook& hook) {
    return {.bootstrap_servers = bootstrap,
            .instance_name = "mock",
            .auto_offset_reset = "earliest",
            .kafka_config = {{"security.protocol", "plaintext"}},
            .interrupt = hook.fn()};
}

void produce(const std::string& bootstrap, const std::string& pipeline, const std::string& value) {
    Producer p{{.bootstrap_servers = bootstrap,
                .instance_name = "mock",
                .kafka_config = {{"security.protocol", "plaintext"}}}};
    p.produce(value, {.topic = pipeline});
    ASSERT_EQ(p.flush(10s), 0);
}

// Calls c.stop() if the test has not finished within 20 s (old code, which ignored the hook, would wait on).
struct Backstop {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::thread t;
    explicit Backstop(Consumer& c)
        : t{[this, &c] {
              std::unique_lock lock{m};
              if (!cv.wait_for(lock, 20s, [this] { return done; })) c.stop();
          }} {}
    ~Backstop() {
        {
            std::lock_guard lock{m};
            done = true;
        }
        cv.notify_all();
        t.join();
    }
};

}  // namespace

TEST(ConsumerInterrupt, AHookThatThrowsEndsAPollAndTheNextPollReturnsTheMessage) {
    MockCluster cluster;
    cluster.create_topic("mock.interrupt", 1);
    Hook hook;
    auto o = options(cluster.bootstrap_servers(), hook);
    o.topics = {"interrupt"};
    Consumer c{o};
    const auto t0 = Clock::now();
    EXPECT_THROW(c.poll(10s), Interrupted) << "the hook's exception ends the poll and reaches the caller";
    // About 300 ms (three slices of 100 ms); the margin is for a slow machine: the poll lasts 10 s otherwise.
    EXPECT_LT(Clock::now() - t0, 5s);
    EXPECT_EQ(hook.calls.load(), 3) << "the wait ended at the call that threw";
    EXPECT_FALSE(hook.other_thread.load()) << "the hook runs on the waiting thread";
    hook.armed = false;
    produce(cluster.bootstrap_servers(), "interrupt", "after");
    const auto m = c.poll(10s);
    ASSERT_TRUE(m) << "the consumer goes on after an interrupted poll";
    EXPECT_EQ(m->value, "after");
}

// A message fetched around an interruption is never dropped: the hook throws at every call, the poll is
// repeated until the message comes, and it comes exactly once.
TEST(ConsumerInterrupt, AMessageIsNotLostWhenEveryWaitIsInterrupted) {
    MockCluster cluster;
    cluster.create_topic("mock.every", 1);
    produce(cluster.bootstrap_servers(), "every", "kept");
    Hook hook;
    hook.throw_at = 1;
    auto o = options(cluster.bootstrap_servers(), hook);
    o.topics = {"every"};
    Consumer c{o};
    int interrupted = 0;
    std::optional<Message> m;
    for (const auto deadline = Clock::now() + 30s; !m && Clock::now() < deadline;) {
        try {
            m = c.poll(10s);
        } catch (const Interrupted&) {
            ++interrupted;
        }
    }
    ASSERT_TRUE(m) << "after " << interrupted << " interrupted polls";
    EXPECT_EQ(m->value, "kept");
    EXPECT_GT(interrupted, 0) << "the group join takes longer than one slice: polls were interrupted";
    hook.armed = false;
    EXPECT_FALSE(c.poll(300ms)) << "the message came once";
}

// With no hook (the default) a poll just waits: nothing is called.
TEST(ConsumerInterrupt, AnEmptyHookIsNeverCalled) {
    MockCluster cluster;
    Consumer c{{.bootstrap_servers = cluster.bootstrap_servers(),
                .instance_name = "mock",
                .kafka_config = {{"security.protocol", "plaintext"}}}};
    EXPECT_NO_THROW(EXPECT_FALSE(c.poll(300ms)));
    EXPECT_NO_THROW(EXPECT_FALSE(c.wait_for_assignment(300ms)));
}

TEST(ConsumerInterrupt, WaitForAssignmentAndTheStreamAreInterrupted) {
    MockCluster cluster;
    Hook hook;
    Consumer c{options(cluster.bootstrap_servers(), hook)};  // no subscription: nothing will be assigned
    Backstop backstop{c};
    EXPECT_THROW(c.wait_for_assignment(10s), Interrupted);
    EXPECT_EQ(hook.calls.load(), 3);
    hook.calls = 0;
    auto stream = c.stream(10s);
    EXPECT_THROW(stream.begin(), Interrupted) << "the stream's wait is interrupted";
    EXPECT_EQ(hook.calls.load(), 3);
    hook.calls = 0;
    auto fast = c.stream(0ms);  // waits made of polls of no time: the hook still runs between them
    EXPECT_THROW(fast.begin(), Interrupted);
    EXPECT_FALSE(hook.other_thread.load());
}

namespace {

// One partition, messages read (offsets stored), the commit at close refused `refusals` times.
struct CloseSetup {
    gracedb::testing::RawClient owner{RD_KAFKA_PRODUCER, {}};
    rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(owner.get(), 1);
    CloseSetup() { rd_kafka_mock_topic_create(mc, "mock.iclose", 1, 1); }
    ~CloseSetup() { rd_kafka_mock_cluster_destroy(mc); }
    std::string bootstrap() const { return rd_kafka_mock_cluster_bootstraps(mc); }
    ConsumerOptions consumer_options(Hook& hook, const std::string& group) const {
        auto o = options(bootstrap(), hook);
        o.topics = {"iclose"};
        o.group_id = group;
        o.kafka_config["auto.commit.interval.ms"] = "600000";  // only close() commits
        return o;
    }
    void read(Consumer& c, int n) const {
        int got = 0;
        for (const auto deadline = Clock::now() + 30s; got < n && Clock::now() < deadline;)
            if (c.poll(500ms)) ++got;
        ASSERT_EQ(got, n);
    }
    void refuse_commits(int n) const {
        for (int i = 0; i < n; ++i)
            rd_kafka_mock_push_request_errors(mc, 8 /* OffsetCommit */, 1,
                                              RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS);
    }
    std::int64_t committed(const std::string& group) const {
        gracedb::testing::RawClient c{RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap()},
                                                          {"group.id", group},
                                                          {"enable.auto.commit", "false"}}};
        using List = std::unique_ptr<rd_kafka_topic_partition_list_t,
                                     decltype(&rd_kafka_topic_partition_list_destroy)>;
        List list{rd_kafka_topic_partition_list_new(1), &rd_kafka_topic_partition_list_destroy};
        rd_kafka_topic_partition_list_add(list.get(), "mock.iclose", 0);
        if (rd_kafka_committed(c.get(), list.get(), 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) return -2;
        return list->elems[0].offset;
    }
};

}  // namespace

// A consumer of `group` that read `n` messages and whose close(), retrying a refused commit, the hook
// interrupted (at its third call).
std::unique_ptr<Consumer> interrupted_close(const CloseSetup& setup, Hook& hook, const std::string& group,
                                            int n) {
    for (int i = 0; i < n; ++i) produce(setup.bootstrap(), "iclose", "m");
    hook.armed = false;
    auto c = std::make_unique<Consumer>(setup.consumer_options(hook, group));
    setup.read(*c, n);
    setup.refuse_commits(2);
    hook.calls = 0;
    hook.armed = true;
    EXPECT_THROW(c->close(10s), Interrupted);
    EXPECT_EQ(hook.calls.load(), 3);
    hook.armed = false;
    return c;
}

// close() interrupted while it retries the commit at close: it raises the hook's exception, later calls are
// refused (client_closed), and a second close() finishes it, committing what was handed over.
TEST(ConsumerInterrupt, AnInterruptedCloseIsFinishedByTheNextClose) {
    CloseSetup setup;
    Hook hook;
    auto c = interrupted_close(setup, hook, "iclose-again", 4);
    try {
        c->poll(100ms);
        ADD_FAILURE() << "a poll after close() began must be refused";
    } catch (const gracedb::Error& e) {
        EXPECT_EQ(e.code(), gracedb::Errc::client_closed) << e.what();
    }
    c->close(10s);
    EXPECT_EQ(setup.committed("iclose-again"), 4) << "the finished close committed what was handed over";
    EXPECT_NO_THROW(c->close(1s)) << "closed: a further close does nothing";
}

// An interrupted close() left to the destructor: it finishes the close (and the commit) without the hook.
TEST(ConsumerInterrupt, AnInterruptedCloseIsFinishedByTheDestructor) {
    CloseSetup setup;
    Hook hook;
    auto c = interrupted_close(setup, hook, "iclose-dtor", 3);
    hook.calls = 0;
    hook.armed = true;
    c.reset();
    EXPECT_EQ(hook.calls.load(), 0) << "the destructor does not call the hook";
    EXPECT_EQ(setup.committed("iclose-dtor"), 3);
}

// The Python package's hook runs signal handlers; a handler may close the consumer (SIGTERM -> close()). The
// hook runs on the thread whose poll is waiting: close() must not wait for that poll, i.e. for itself (it
// did: the process hung). The poll ends with client_closed instead.
TEST(ConsumerInterrupt, AHookThatClosesTheConsumerEndsThePollInsteadOfWaitingForItself) {
    MockCluster cluster;
    cluster.create_topic("mock.interrupt", 1);
    Hook unused;
    auto o = options(cluster.bootstrap_servers(), unused);
    Consumer* self = nullptr;
    int calls = 0;
    o.interrupt = [&] {
        if (++calls == 2) self->close(5s);  // close() calls the hook too: only the second call closes
    };
    o.topics = {"interrupt"};
    Consumer c{o};
    self = &c;
    const auto t0 = Clock::now();
    try {
        c.poll(10s);
        ADD_FAILURE() << "the poll returned although its consumer was closed under it";
    } catch (const gracedb::Error& e) {
        EXPECT_EQ(e.code(), gracedb::Errc::client_closed) << e.what();
    }
    EXPECT_LT(Clock::now() - t0, 8s);
    EXPECT_THROW(c.poll(0ms), gracedb::Error) << "closed for good";
}
