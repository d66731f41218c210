// The producer against librdkafka's mock cluster (plaintext, so no token is needed): value kinds, options,
// errors that need no authentication. Authentication is proven against the real broker.
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <gracedb/testing/mock_cluster.hpp>
#include "rawkafka.hpp"

#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <optional>
#include <thread>

using namespace gracedb::kafka;
using gracedb::testing::MockCluster;
using gracedb::testing::RawClient;
using namespace std::chrono_literals;

namespace {
ProducerOptions mock_options(const MockCluster& c) {
    return {.bootstrap_servers = c.bootstrap_servers(),
            .instance_name = "mock",
            .kafka_config = {{"security.protocol", "plaintext"}}};
}
// A producer aimed at a port where nothing listens (connections refused at once). `backoff_ms`: librdkafka's
// reconnect.backoff.max.ms, when the test wants the refusals (and their error events) to come quickly.
ProducerOptions down_broker_options(std::chrono::milliseconds flush_timeout, std::optional<std::string> backoff_ms = {}) {
    ProducerOptions o{.bootstrap_servers = "127.0.0.1:1",
                      .instance_name = "mock",
                      .flush_timeout = flush_timeout,
                      .kafka_config = {{"security.protocol", "plaintext"}}};
    if (backoff_ms) o.kafka_config["reconnect.backoff.max.ms"] = *backoff_ms;
    return o;
}
std::vector<gracedb::testing::RawMessage> read_back(const MockCluster& c, const std::string& topic, std::size_t n,
                                                   std::int32_t partition = 0) {
    RawClient consumer{RD_KAFKA_CONSUMER, {{"bootstrap.servers", c.bootstrap_servers()}, {"group.id", "read-back"}}};
    return consumer.consume_from_beginning(topic, n, 10s, partition);
}
// A mock cluster of our own, so that requests can be made to fail (librdkafka's mock error injection).
struct InjectableCluster {
    RawClient owner{RD_KAFKA_PRODUCER, {}};
    rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(owner.get(), 1);
    ~InjectableCluster() { rd_kafka_mock_cluster_destroy(mc); }
    std::string bootstrap() const { return rd_kafka_mock_cluster_bootstraps(mc); }
};
}  // namespace

TEST(ProducerMock, EachValueKindIsSentAsTheSpecSays) {
    MockCluster cluster;
    cluster.create_topic("mock.kinds", 1);
    Producer p{mock_options(cluster)};
    const std::vector<std::byte> bytes{std::byte{0}, std::byte{0xff}, std::byte{'x'}};
    p.produce(nlohmann::json{{"graceid", "G12345"}, {"group", "CBC"}}, {.topic = "kinds"});
    p.produce("hello", {.topic = "kinds"});
    p.produce(std::string{"world"}, {.topic = "kinds"});
    const std::string text = "view";
    p.produce(std::string_view{text}, {.topic = "kinds"});
    p.produce(std::span<const std::byte>{bytes}, {.topic = "kinds"});
    p.produce(bytes, {.topic = "kinds", .key = "k", .headers = {{"h1", "v1"}, {"h2", ""}}});
    EXPECT_EQ(p.flush(10s), 0);
    auto got = read_back(cluster, "mock.kinds", 6);
    ASSERT_EQ(got.size(), 6u);
    EXPECT_EQ(got[0].value, R"({"graceid":"G12345","group":"CBC"})");
    EXPECT_EQ(got[1].value, "hello");
    EXPECT_EQ(got[2].value, "world");
    EXPECT_EQ(got[3].value, "view");
    EXPECT_EQ(got[4].value, std::string("\0\xff" "x", 3));
    EXPECT_EQ(got[5].key, "k");
    ASSERT_EQ(got[5].headers.size(), 2u);
    EXPECT_EQ(got[5].headers[0], (std::pair<std::string, std::string>{"h1", "v1"}));
}

TEST(ProducerMock, DefaultTopicIsNamespacedAndOnDeliveryIsCalled) {
    MockCluster cluster;
    cluster.create_topic("mock.gstlal", 2);
    auto o = mock_options(cluster);
    o.topic = "gstlal";
    Producer p{o};
    std::vector<DeliveryReport> reports;
    for (int i = 0; i < 3; ++i)
        p.produce("m" + std::to_string(i),
                  {.partition = 1, .on_delivery = [&](const DeliveryReport& r) { reports.push_back(r); }});
    EXPECT_EQ(p.flush(10s), 0);
    ASSERT_EQ(reports.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(reports[i].topic, "mock.gstlal");
        EXPECT_EQ(reports[i].partition, 1);
        EXPECT_EQ(reports[i].offset, i);
        EXPECT_FALSE(reports[i].error);
    }
    EXPECT_EQ(p.pending_messages(), 0u);
}

TEST(ProducerMock, AnExceptionFromOnDeliveryIsRethrownFromFlush) {
    MockCluster cluster;
    Producer p{mock_options(cluster)};
    p.produce("x", {.topic = "t", .on_delivery = [](const DeliveryReport&) { throw std::runtime_error("boom"); }});
    EXPECT_THROW(p.flush(10s), std::runtime_error);
    EXPECT_EQ(p.flush(1s), 0) << "raised once";
}

TEST(ProducerMock, OptionsAreCheckedAtConstruction) {
    MockCluster cluster;
    auto both = mock_options(cluster);
    both.service_url = "https://gracedb-dev.ligo.org/api/";
    EXPECT_THROW(Producer{both}, std::invalid_argument);
    auto neither = mock_options(cluster);
    neither.instance_name.reset();
    EXPECT_THROW(Producer{neither}, std::invalid_argument);
    auto unknown = mock_options(cluster);
    unknown.kafka_config["no.such.setting"] = "1";
    try {
        Producer p{unknown};
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string{e.what()}.find("no.such.setting"), std::string::npos) << e.what();
    }
    auto bad_value = mock_options(cluster);
    bad_value.kafka_config["linger.ms"] = "soon";
    EXPECT_THROW(Producer{bad_value}, std::invalid_argument);
    auto contradiction = mock_options(cluster);
    contradiction.kafka_config["acks"] = "1";
    try {
        Producer p{contradiction};
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string{e.what()}.find("acks=1"), std::string::npos) << e.what();
        EXPECT_NE(std::string{e.what()}.find("guaranteed_delivery"), std::string::npos) << e.what();
    }
    contradiction.guaranteed_delivery = false;
    EXPECT_NO_THROW(Producer{contradiction});
    auto bad_topic = mock_options(cluster);
    bad_topic.topic = "gst lal";
    EXPECT_THROW(Producer{bad_topic}, std::invalid_argument);
}

TEST(ProducerMock, ProduceWithoutATopicIsInvalidArgument) {
    MockCluster cluster;
    Producer p{mock_options(cluster)};
    EXPECT_THROW(p.produce("x"), std::invalid_argument);
    EXPECT_THROW(p.produce("x", {.topic = "has space"}), std::invalid_argument);
}

TEST(ProducerMock, OversizedMessagesAreRefusedWithSizeAndLimit) {
    MockCluster cluster;
    Producer p{mock_options(cluster)};
    const std::string big(1'042'680, 'A');  // the PSD file's base64 size: just over the default limit
    try {
        p.produce(big, {.topic = "t"});
        FAIL();
    } catch (const KafkaProducerError& e) {
        EXPECT_NE(std::string{e.what()}.find("1042680 bytes"), std::string::npos) << e.what();
        EXPECT_NE(std::string{e.what()}.find("message.max.bytes=1000000"), std::string::npos) << e.what();
    }
    EXPECT_NO_THROW(p.produce(std::string(900'000, 'A'), {.topic = "t"}));
    EXPECT_EQ(p.flush(10s), 0);
}

TEST(ProducerMock, PingReportsWhereItLanded) {
    MockCluster cluster;
    Producer p{mock_options(cluster)};
    auto r = p.ping();
    EXPECT_EQ(r.topic, "mock.test");
    EXPECT_GE(r.offset, 0);
    EXPECT_EQ(r.message["type"], "ping");
    EXPECT_TRUE(r.message["sub"].is_null()) << "no token on plaintext";
    EXPECT_FALSE(r.message["host"].get<std::string>().empty());
    auto got = read_back(cluster, "mock.test", 1, r.partition);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(nlohmann::json::parse(got[0].value), r.message);
}

TEST(ProducerMock, ABrokerThatIsDownIsAConnectionErrorWithinTheTimeout) {
    Producer p{down_broker_options(1s, "200")};
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(p.ping(std::nullopt, 3s), KafkaConnectionError);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
    p.produce("queued", {.topic = "t"});
    EXPECT_THROW(p.flush(2s), KafkaConnectionError);
    EXPECT_GE(p.pending_messages(), 1u);
}

// Regression (seen once in python.api_behaviour): pending_messages() returned librdkafka's outq_len, which also
// counts the main queue's events: a producer with no message but a refused connection reported 2 "messages".
TEST(ProducerMock, PendingMessagesCountsMessagesNotEvents) {
    Producer p{down_broker_options(1s, "100")};
    // Nothing serves the main queue here: the refused connections' error events pile up in it.
    for (const auto until = std::chrono::steady_clock::now() + 1500ms; std::chrono::steady_clock::now() < until;) {
        ASSERT_EQ(p.pending_messages(), 0u) << "an event counted as a message";
        std::this_thread::sleep_for(10ms);
    }
    p.produce("queued", {.topic = "t"});
    EXPECT_EQ(p.pending_messages(), 1u);
}

TEST(ProducerMock, CloseReportsWhatWasNotDelivered) {
    Producer p{down_broker_options(500ms)};
    p.produce("lost?", {.topic = "t", .key = "G1"});
    try {
        p.close(500ms);
        FAIL() << "expected an error";
    } catch (const KafkaError& e) {
        // Either the connection error of the flush or the purge's delivery failure: never silence.
        SUCCEED() << e.what();
    }
    EXPECT_THROW(p.produce("after close", {.topic = "t"}), KafkaProducerError);
}

// A broker that refuses the message (a non-retriable error): with a broker that is down, flush() now raises
// the connection error as soon as librdkafka reports it, which may come before the message's own timeout.
TEST(ProducerMock, UndeliveredWithoutOnDeliveryRaisesFromFlushNamingTopicAndKey) {
    InjectableCluster cluster;
    rd_kafka_mock_push_request_errors(cluster.mc, 0 /* Produce */, 1, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    Producer p{{.bootstrap_servers = cluster.bootstrap(),
                .instance_name = "mock",
                .kafka_config = {{"security.protocol", "plaintext"}}}};
    p.produce("doomed", {.topic = "t", .key = "G77"});
    try {
        p.flush(10s);
        FAIL() << "expected KafkaMessageDeliveryError";
    } catch (const KafkaMessageDeliveryError& e) {
        EXPECT_NE(std::string{e.what()}.find("mock.t"), std::string::npos) << e.what();
        EXPECT_NE(std::string{e.what()}.find("G77"), std::string::npos) << e.what();
        EXPECT_EQ(e.code(), gracedb::Errc::authorization_failed) << e.what();
        EXPECT_EQ(e.rdkafka_error(), "TOPIC_AUTHORIZATION_FAILED");
    }
}

TEST(ProducerMock, MovedFromAndMovedTo) {
    MockCluster cluster;
    cluster.create_topic("mock.move", 1);
    Producer a{mock_options(cluster)};
    Producer b{std::move(a)};
    b.produce("moved", {.topic = "move"});
    EXPECT_EQ(b.flush(10s), 0);
    EXPECT_THROW(a.produce("x", {.topic = "move"}), std::logic_error);
}

// ---- error codes, loss paths, races (issues 10, 11) ------------------------------------------------------


// A producer whose first Produce request the broker answers with OUT_OF_ORDER_SEQUENCE_NUMBER (the idempotent
// producer's sequence out of sync with the broker: librdkafka's fatal error), one message already produced.
Producer producer_meeting_a_fatal_error(InjectableCluster& cluster) {
    rd_kafka_mock_push_request_errors(cluster.mc, 0 /* Produce */, 1, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    Producer p{{.bootstrap_servers = cluster.bootstrap(),
                .instance_name = "mock",
                .kafka_config = {{"security.protocol", "plaintext"}}}};
    p.produce("x", {.topic = "t"});
    return p;
}

// The producer heals (issue 22): the message the broker refused is reported failed, as a delivery error with
// the broker's code (not a fatal error of the producer), and the producer goes on with a new handle.
TEST(ProducerMock, AFatalIdempotenceErrorHealsAndReportsTheMessageWithItsCode) {
    InjectableCluster cluster;
    Producer p = producer_meeting_a_fatal_error(cluster);
    try {
        p.flush(10s);
        FAIL() << "expected the refused message's failure";
    } catch (const KafkaMessageDeliveryError& e) {
        EXPECT_FALSE(e.fatal()) << e.what();
        EXPECT_EQ(e.rdkafka_error(), "OUT_OF_ORDER_SEQUENCE_NUMBER") << e.what();
    }
    EXPECT_NO_THROW(p.produce("y", {.topic = "t"})) << "never a dead producer";
    EXPECT_EQ(p.flush(10s), 0);
    EXPECT_EQ(p.heal_count(), 1u);
}

TEST(ProducerMock, CodesOfUsageErrors) {
    MockCluster cluster;
    Producer p{mock_options(cluster)};
    try {
        p.produce(std::string(1'000'001, 'A'), {.topic = "t"});
        FAIL();
    } catch (const KafkaProducerError& e) {
        EXPECT_EQ(e.code(), gracedb::Errc::message_too_large);
        EXPECT_FALSE(e.fatal());
    }
    p.close(1s);
    try {
        p.produce("x", {.topic = "t"});
        FAIL();
    } catch (const KafkaProducerError& e) {
        EXPECT_EQ(e.code(), gracedb::Errc::client_closed);
    }
}

// Regression (issue 11, loss path 1): close() raised the pending callback exception before flushing and then
// purged every message in flight ("Purged in flight" in 0 ms). It must flush first, then report.
TEST(ProducerMock, CloseFlushesFirstEvenWithAnUnrelatedErrorPending) {
    InjectableCluster cluster;
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster.mc, "mock.slow", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    Producer p{{.bootstrap_servers = cluster.bootstrap(),
                .instance_name = "mock",
                .kafka_config = {{"security.protocol", "plaintext"}}}};
    p.produce("a", {.topic = "slow", .on_delivery = [](const DeliveryReport&) { throw std::runtime_error("boom"); }});
    // The own-report wait serves a's report: its exception is kept, not raised here.
    auto b = p.produce_and_wait("b", {.topic = "slow"}, 10s);
    ASSERT_FALSE(b.error) << *b.error;
    rd_kafka_mock_broker_set_rtt(cluster.mc, 1, 500);  // a slow broker: ten messages in flight for a while
    std::atomic<int> delivered{0};
    // Queued without waiting (a zero wait), so that the pending exception is not raised before close().
    for (int i = 0; i < 10; ++i)
        p.produce_and_wait("m" + std::to_string(i),
                           {.topic = "slow", .on_delivery = [&](const DeliveryReport& r) {
                                if (!r.error) ++delivered;
                            }},
                           0ms);
    ASSERT_GE(p.pending_messages(), 10u) << "ten messages in flight when close() begins";
    try {
        p.close(20s);
        FAIL() << "the pending exception must be reported";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string{e.what()}.find("boom"), std::string::npos) << e.what();
    }
    EXPECT_EQ(delivered.load(), 10) << "close() flushed before reporting the pending error";
    rd_kafka_mock_broker_set_rtt(cluster.mc, 1, 0);
    RawClient reader{RD_KAFKA_CONSUMER, {{"bootstrap.servers", cluster.bootstrap()}, {"group.id", "rb"}}};
    EXPECT_EQ(reader.consume_from_beginning("mock.slow", 12, 10s).size(), 12u);
}

// Close purges only what is still queued at its deadline, reports it (code purged), and keeps to its timeout.
TEST(ProducerMock, ClosePurgesAtTheDeadlineAndReportsWithinItsTimeout) {
    ProducerOptions o{.bootstrap_servers = "127.0.0.1:1",
                      .instance_name = "mock",
                      .kafka_config = {{"security.protocol", "plaintext"}}};
    Producer p{o};
    p.produce("never", {.topic = "t", .key = "G2"});
    const auto start = std::chrono::steady_clock::now();
    try {
        p.close(1s);
        FAIL() << "expected KafkaMessageDeliveryError";
    } catch (const KafkaMessageDeliveryError& e) {
        EXPECT_EQ(e.code(), gracedb::Errc::purged) << e.what();
        EXPECT_NE(std::string{e.what()}.find("G2"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "1 s timeout, a wide margin";
}

// Regression (issue 11, loss path 4): close() released the handles while another thread produced.
// After close() begins, produce() raises client_closed; every produce() that returned normally is delivered
// or reported. Run under ASan (see the report) for use-after-free.
TEST(ProducerMock, CloseRacingProduceFromOtherThreads) {
    MockCluster cluster;
    cluster.create_topic("mock.race", 1);
    for (int round = 0; round < 10; ++round) {
        auto p = std::make_unique<Producer>(mock_options(cluster));
        std::atomic<bool> go{false};
        std::atomic<int> accepted{0}, reported{0}, closed_errors{0}, other_errors{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&] {
                while (!go.load()) std::this_thread::yield();
                for (;;) {
                    try {
                        p->produce("r", {.topic = "race", .on_delivery = [&](const DeliveryReport&) { ++reported; }});
                        ++accepted;
                    } catch (const KafkaProducerError& e) {
                        if (e.code() == gracedb::Errc::client_closed) {
                            ++closed_errors;
                            return;
                        }
                        ++other_errors;
                    }
                }
            });
        go = true;
        while (accepted.load() < 200) std::this_thread::yield();
        try {
            p->close(10s);
        } catch (const std::exception& e) {
            ADD_FAILURE() << "round " << round << ": " << e.what();
        }
        for (auto& t : threads) t.join();
        EXPECT_EQ(closed_errors.load(), 4) << "each thread was told the producer is closed";
        EXPECT_EQ(other_errors.load(), 0);
        EXPECT_EQ(reported.load(), accepted.load()) << "every accepted message has its report";
        p.reset();
    }
}

// ---- the per-message path (issue 13): reports served and errors raised by produce() alone ----------
// produce() polls librdkafka only when its main queue has something (the queue's own notification): these
// prove that nothing waits unnoticed when the application calls nothing but produce().

// Produces filler messages (no callback) until `done()` or the deadline; never calls flush() or poll().
template <class Done>
bool produce_until(Producer& p, const std::string& pipeline, Done done) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        p.produce("filler", {.topic = pipeline});
        std::this_thread::sleep_for(1ms);
    }
    return done();
}

TEST(ProducerMock, ProduceAloneServesDeliveryReports) {
    MockCluster cluster;
    Producer p{mock_options(cluster)};
    std::atomic<int> reported{0};
    std::optional<DeliveryReport> report;
    p.produce("watched", {.topic = "served", .key = "G9", .on_delivery = [&](const DeliveryReport& r) {
                              report = r;
                              ++reported;
                          }});
    ASSERT_TRUE(produce_until(p, "served", [&] { return reported.load() > 0; }))
        << "the delivery report was not served by later produce() calls";
    EXPECT_EQ(reported.load(), 1);
    EXPECT_FALSE(report->error);
    EXPECT_EQ(report->topic, "mock.served");
    EXPECT_EQ(report->key, "G9");
    EXPECT_EQ(p.flush(10s), 0);
}

TEST(ProducerMock, AnExceptionFromOnDeliveryIsRethrownFromALaterProduce) {
    MockCluster cluster;
    Producer p{mock_options(cluster)};
    p.produce("x", {.topic = "t", .on_delivery = [](const DeliveryReport&) { throw std::runtime_error("boom"); }});
    bool raised = false;
    try {
        produce_until(p, "t", [] { return false; });
    } catch (const std::runtime_error& e) {
        raised = std::string{e.what()} == "boom";
    }
    EXPECT_TRUE(raised) << "the callback's exception never came back from produce()";
    EXPECT_EQ(p.flush(10s), 0) << "raised once";
}

TEST(ProducerMock, AFatalErrorNeverReachesALaterProduce) {
    InjectableCluster cluster;
    Producer p = producer_meeting_a_fatal_error(cluster);
    try {
        EXPECT_TRUE(produce_until(p, "t", [&] { return p.heal_count() > 0; })) << "produce() never healed";
    } catch (const gracedb::Error& e) {
        FAIL() << "produce() raised: " << e.what();
    }
    EXPECT_EQ(p.heal_count(), 1u);
}

// Named pipelines' handles are found without a lock: threads adding and using several pipelines at once,
// with keys and partitions (librdkafka's plain produce call), each message landing where it was sent.
TEST(ProducerMock, ManyPipelinesFromManyThreadsLandWhereSent) {
    MockCluster cluster;
    constexpr int kPipelines = 6, kThreads = 4, kEach = 50;
    for (int i = 0; i < kPipelines; ++i) cluster.create_topic("mock.pipe" + std::to_string(i), 2);
    Producer p{mock_options(cluster)};
    std::atomic<int> failed{0};
    std::vector<std::size_t> expected(kPipelines, 0);
    for (int t = 0; t < kThreads; ++t)
        for (int i = 0; i < kEach; ++i) ++expected[static_cast<std::size_t>((i + t) % kPipelines)];
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                const int pipe = (i + t) % kPipelines;
                p.produce("t" + std::to_string(t) + "-" + std::to_string(i),
                          {.topic = "pipe" + std::to_string(pipe), .key = "k" + std::to_string(pipe),
                           .partition = 1, .on_delivery = [&failed, pipe](const DeliveryReport& r) {
                               const bool wrong_place =
                                   r.topic != "mock.pipe" + std::to_string(pipe) || r.partition != 1;
                               if (r.error || wrong_place) ++failed;
                           }});
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(p.flush(30s), 0);
    EXPECT_EQ(failed.load(), 0);
    std::size_t total = 0;
    for (int pipe = 0; pipe < kPipelines; ++pipe) {
        const std::string topic = "mock.pipe" + std::to_string(pipe);
        auto got = read_back(cluster, topic, expected[static_cast<std::size_t>(pipe)], 1);
        EXPECT_EQ(got.size(), expected[static_cast<std::size_t>(pipe)]) << topic;
        for (const auto& m : got) {
            EXPECT_EQ(m.key, "k" + std::to_string(pipe)) << topic;
            EXPECT_EQ(m.partition, 1) << topic;
        }
        total += got.size();
    }
    EXPECT_EQ(total, static_cast<std::size_t>(kThreads * kEach));
}
