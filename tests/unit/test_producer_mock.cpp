// The producer against librdkafka's mock cluster (plaintext, so no token is needed): value kinds, options,
// errors that need no authentication. Authentication is proven against the real broker.
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <gracedb/testing/mock_cluster.hpp>
#include "rawkafka.hpp"

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
std::vector<gracedb::testing::RawMessage> read_back(const MockCluster& c, const std::string& topic, std::size_t n,
                                                   std::int32_t partition = 0) {
    RawClient consumer{RD_KAFKA_CONSUMER, {{"bootstrap.servers", c.bootstrap_servers()}, {"group.id", "read-back"}}};
    return consumer.consume_from_beginning(topic, n, 10s, partition);
}
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
    ProducerOptions o{.bootstrap_servers = "127.0.0.1:1",
                      .instance_name = "mock",
                      .flush_timeout = 1s,
                      .kafka_config = {{"security.protocol", "plaintext"}, {"reconnect.backoff.max.ms", "200"}}};
    Producer p{o};
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(p.ping(std::nullopt, 3s), KafkaConnectionError);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
    p.produce("queued", {.topic = "t"});
    EXPECT_THROW(p.flush(2s), KafkaConnectionError);
    EXPECT_GE(p.pending_messages(), 1u);
}

TEST(ProducerMock, CloseReportsWhatWasNotDelivered) {
    ProducerOptions o{.bootstrap_servers = "127.0.0.1:1",
                      .instance_name = "mock",
                      .flush_timeout = 500ms,
                      .kafka_config = {{"security.protocol", "plaintext"}}};
    Producer p{o};
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

TEST(ProducerMock, UndeliveredWithoutOnDeliveryRaisesFromFlushNamingTopicAndKey) {
    ProducerOptions o{.bootstrap_servers = "127.0.0.1:1",
                      .instance_name = "mock",
                      .kafka_config = {{"security.protocol", "plaintext"}, {"message.timeout.ms", "300"}}};
    Producer p{o};
    p.produce("doomed", {.topic = "t", .key = "G77"});
    try {
        p.flush(5s);
        FAIL() << "expected KafkaMessageDeliveryError";
    } catch (const KafkaMessageDeliveryError& e) {
        EXPECT_NE(std::string{e.what()}.find("mock.t"), std::string::npos) << e.what();
        EXPECT_NE(std::string{e.what()}.find("G77"), std::string::npos) << e.what();
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
