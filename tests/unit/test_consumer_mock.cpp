// The consumer on librdkafka's mock cluster: options, messages, and clean shutdown on signals.
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <set>
#include <thread>

#include <gracedb/log.hpp>
#include <gracedb/testing/mock_cluster.hpp>
#include "rawkafka.hpp"
#include "signal_test.hpp"

#include <librdkafka/rdkafka_mock.h>

#include <mutex>

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

// Regression (issue 11, item 6): the stop-signal flag stayed set after a stream ended by a signal, so every
// later poll() in the process returned at once. A poll after such a stream waits for and returns a message.
TEST(ConsumerMock, SerialAPollAfterASignalEndedStreamIsNotCutShort) {
    MockCluster cluster;
    cluster.create_topic("mock.after-signal", 1);
    const std::string bootstrap = cluster.bootstrap_servers();
    Consumer c{{.bootstrap_servers = bootstrap,
                .topics = {"after-signal"},
                .instance_name = "mock",
                .auto_offset_reset = "earliest",
                .kafka_config = {{"security.protocol", "plaintext"}}}};
    {
        auto stream = c.stream(100ms);
        std::raise(SIGTERM);  // the stream's handler only sets the flag
        for (const auto& m : stream) ADD_FAILURE() << "no message expected: " << m.value;
        EXPECT_EQ(stream.end_reason(), "signal");
    }
    // Produced 300 ms after the poll starts: a poll cut short by a stale flag would return nothing.
    std::thread later{[&] {
        std::this_thread::sleep_for(300ms);
        Producer p{{.bootstrap_servers = bootstrap,
                    .instance_name = "mock",
                    .kafka_config = {{"security.protocol", "plaintext"}}}};
        p.produce("after", {.topic = "after-signal"});
        p.flush(10s);
    }};
    const auto m = c.poll(30s);  // one poll: it must not return before the message or its timeout
    later.join();
    ASSERT_TRUE(m) << "the poll after a signal-ended stream must wait for the message";
    EXPECT_EQ(m->value, "after");
}

// --- close() commits what was handed over (issue 11: a clean stop after a coordinator failover committed
// nothing). librdkafka 2.0.2 makes one commit attempt at close and drops it on an error such as "Rebalance in
// progress" or "Unknown member"; the group then resumes from older offsets and replays everything since.
namespace {

// A mock cluster whose requests can be made to fail (librdkafka's mock error injection).
struct CommitCluster {
    gracedb::testing::RawClient owner{RD_KAFKA_PRODUCER, {}};
    rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(owner.get(), 1);
    CommitCluster() { rd_kafka_mock_topic_create(mc, "mock.close", 1, 1); }
    ~CommitCluster() { rd_kafka_mock_cluster_destroy(mc); }
    std::string bootstrap() const { return rd_kafka_mock_cluster_bootstraps(mc); }

    void produce(int n) const {
        Producer p{{.bootstrap_servers = bootstrap(), .instance_name = "mock",
                    .kafka_config = {{"security.protocol", "plaintext"}}}};
        for (int i = 0; i < n; ++i) p.produce(nlohmann::json{{"i", i}}, {.topic = "close"});
        ASSERT_EQ(p.flush(10s), 0);
    }
    // The offset the group committed for mock.close[0] (negative: none), read without joining the group.
    std::int64_t committed(const std::string& group) const {
        gracedb::testing::RawClient c{RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap()}, {"group.id", group},
                                                          {"enable.auto.commit", "false"}}};
        std::unique_ptr<rd_kafka_topic_partition_list_t, decltype(&rd_kafka_topic_partition_list_destroy)> list{
            rd_kafka_topic_partition_list_new(1), &rd_kafka_topic_partition_list_destroy};
        rd_kafka_topic_partition_list_add(list.get(), "mock.close", 0);
        if (rd_kafka_committed(c.get(), list.get(), 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) return -2;
        return list->elems[0].offset;
    }
};

ConsumerOptions commit_options(const CommitCluster& c, const std::string& group) {
    // Auto-commit on (the default) but its timer far off: only close() commits in these tests.
    return {.bootstrap_servers = c.bootstrap(), .topics = {"close"}, .instance_name = "mock", .group_id = group,
            .auto_offset_reset = "earliest",
            .kafka_config = {{"security.protocol", "plaintext"}, {"auto.commit.interval.ms", "600000"}}};
}

// Reads `n` messages (handed over, so their offsets are stored).
void read_n(Consumer& c, int n) {
    int got = 0;
    for (const auto deadline = std::chrono::steady_clock::now() + 30s;
         got < n && std::chrono::steady_clock::now() < deadline;)
        if (c.poll(500ms)) ++got;
    ASSERT_EQ(got, n);
}

// Collects the library's log lines of level `warning` and above while alive.
struct LogCapture {
    std::mutex mutex;
    std::string text;
    LogCapture() {
        gracedb::set_log_handler([this](gracedb::LogLevel level, std::string_view m) {
            if (level < gracedb::LogLevel::warning) return;
            std::lock_guard lock{mutex};
            text += std::string{m} + "\n";
        });
    }
    ~LogCapture() { gracedb::set_log_handler({}); }
    std::string get() {
        std::lock_guard lock{mutex};
        return text;
    }
};

}  // namespace

// Regression: an OffsetCommit refused with "Rebalance in progress" (a permanent error for librdkafka) left the
// group at its old offsets after a clean close. close() now retries it within its timeout.
TEST(ConsumerMock, CloseCommitsWhatWasHandedOverWhenTheFirstCommitsAreRefused) {
    CommitCluster cluster;
    cluster.produce(10);
    Consumer c{commit_options(cluster, "close-refused")};
    read_n(c, 10);
    rd_kafka_mock_push_request_errors(cluster.mc, 8 /* OffsetCommit */, 2, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
                                      RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS);
    c.close(10s);
    EXPECT_EQ(cluster.committed("close-refused"), 10) << "close commits everything it handed over";
}

// Regression: "Unknown member" (the member was fenced, e.g. its session timed out while the coordinator moved)
// made librdkafka revoke the assignment and drop the commit. close() serves the rejoin and commits again for the
// partitions it has back.
TEST(ConsumerMock, CloseCommitsAfterTheMemberWasFencedAndRejoined) {
    CommitCluster cluster;
    cluster.produce(10);
    auto o = commit_options(cluster, "close-fenced");
    // The mock still counts the "fenced" member until its session times out: the rejoin waits for that.
    o.kafka_config["session.timeout.ms"] = "6000";
    o.kafka_config["heartbeat.interval.ms"] = "500";
    Consumer c{o};
    read_n(c, 10);
    rd_kafka_mock_push_request_errors(cluster.mc, 8 /* OffsetCommit */, 1, RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID);
    c.close(60s);
    EXPECT_EQ(cluster.committed("close-fenced"), 10) << "close commits everything it handed over";
}

// A commit that cannot succeed (refused for good) is reported, not silent, and close() still returns within
// its timeout.
TEST(ConsumerMock, CloseReportsACommitItCouldNotMake) {
    CommitCluster cluster;
    cluster.produce(3);
    LogCapture log;
    Consumer c{commit_options(cluster, "close-denied")};
    read_n(c, 3);
    rd_kafka_mock_push_request_errors(cluster.mc, 8 /* OffsetCommit */, 1, RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED);
    const auto t0 = std::chrono::steady_clock::now();
    c.close(5s);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s) << "close is bounded by its timeout (wide margin)";
    const auto text = log.get();
    EXPECT_NE(text.find("could not commit at close (GROUP_AUTHORIZATION_FAILED"), std::string::npos) << text;
    EXPECT_NE(text.find("mock.close[0]@3"), std::string::npos) << "the error names what was not committed\n" << text;
}

// Commits that keep up (issue 22, point 6). The chaos run saw a follower's committed offsets frozen across
// a coordinator failover: the member was fenced ("Unknown member"), and librdkafka 2.0.2 drops the commit
// that this refuses at the revoke (and commits nothing for a LOST assignment), then fetches the partition
// again from the old committed offset when it comes back. Here the fence comes from a heartbeat answer; the
// auto-commit timer is far off, so only the consumer itself can commit. When the partition comes back, the
// consumer resumes after what it handed over (nothing handed twice) and commits that at once.
TEST(ConsumerMock, AfterTheMemberWasFencedTheConsumerResumesAndCommitsWhatItHandedOver) {
    CommitCluster cluster;
    cluster.produce(10);
    auto o = commit_options(cluster, "lost-assignment");
    // The mock still counts the fenced member until its session times out: the rejoin waits for that.
    o.kafka_config["session.timeout.ms"] = "6000";
    o.kafka_config["heartbeat.interval.ms"] = "500";
    Consumer c{o};
    read_n(c, 10);
    rd_kafka_mock_push_request_errors(cluster.mc, 12 /* Heartbeat */, 1, RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID);
    int handed_again = 0;
    std::int64_t committed = -1;
    // Polls (which serves the revoke and the new assignment) until the group's offset is 10, at most 40 s.
    for (const auto deadline = std::chrono::steady_clock::now() + 40s;
         std::chrono::steady_clock::now() < deadline;) {
        if (c.poll(500ms)) ++handed_again;
        if ((committed = cluster.committed("lost-assignment")) == 10) break;
    }
    EXPECT_EQ(committed, 10) << "what was handed over before the loss is committed when it is back";
    for (const auto until = std::chrono::steady_clock::now() + 1s; std::chrono::steady_clock::now() < until;)
        if (c.poll(100ms)) ++handed_again;
    EXPECT_EQ(handed_again, 0) << "nothing handed over twice by the same consumer";
    c.close(10s);
}

// With manual commits (enable.auto.commit=false, as the supervisor runs it) what was handed over is not what
// was done: a partition whose assignment was lost comes back at the application's last commit, and the
// consumer neither skips the messages handed over after it nor commits them behind the application's back.
// (Regression: the resume-after-loss of auto-commit was applied to manual commits too, and the supervisor's
// held, unfinished jobs were skipped and committed.)
TEST(ConsumerMock, WithManualCommitsALostPartitionComesBackAtTheApplicationsCommit) {
    CommitCluster cluster;
    cluster.produce(10);
    auto o = commit_options(cluster, "lost-manual");
    o.kafka_config["enable.auto.commit"] = "false";
    o.kafka_config["max.poll.interval.ms"] = "6000";
    o.kafka_config["session.timeout.ms"] = "6000";
    o.kafka_config["heartbeat.interval.ms"] = "500";
    Consumer c{o};
    read_n(c, 10);
    c.commit(gracedb::kafka::TopicPartition{"mock.close", 0}, 4);  // done: offsets 0..3; 4..9 still held
    for (const auto deadline = std::chrono::steady_clock::now() + 10s;
         cluster.committed("lost-manual") != 4 && std::chrono::steady_clock::now() < deadline;)
        std::this_thread::sleep_for(50ms);
    ASSERT_EQ(cluster.committed("lost-manual"), 4);
    // The assignment is LOST: no poll for longer than max.poll.interval.ms (the member leaves the group).
    std::this_thread::sleep_for(7500ms);
    std::vector<std::int64_t> again;
    for (const auto deadline = std::chrono::steady_clock::now() + 40s;
         again.size() < 6 && std::chrono::steady_clock::now() < deadline;) {
        try {
            if (auto m = c.poll(500ms)) again.push_back(m->offset);
        } catch (const gracedb::Error& e) {  // the exceeded poll interval is reported once: poll on
            EXPECT_NE(std::string{e.what()}.find("MAX_POLL"), std::string::npos) << e.what();
        }
    }
    EXPECT_EQ(again, (std::vector<std::int64_t>{4, 5, 6, 7, 8, 9}))
        << "the partition comes back at the application's commit: the held messages are handed over again";
    EXPECT_EQ(cluster.committed("lost-manual"), 4) << "nothing committed behind the application's back";
    c.close(10s);
}
