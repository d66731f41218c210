// gracedb::kafka::Consumer against the real broker (SASL_SSL, SciTokens with scope kafka.consume).
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "itest.hpp"

using namespace gracedb::kafka;
using namespace gracedb::testing;
using namespace std::chrono_literals;

namespace {

ConsumerOptions consumer_options(std::vector<std::string> topics, std::string reset = "latest",
                                 std::optional<std::string> group = std::nullopt) {
    const Rig& rig = Rig::get();
    return {.bootstrap_servers = rig.sasl_bootstrap,
            .topics = std::move(topics),
            .instance_name = "rig",
            .group_id = std::move(group),
            .ca_cert_path = rig.ca_file,
            .auto_offset_reset = std::move(reset),
            .kafka_config = {{"session.timeout.ms", "6000"}, {"reconnect.backoff.max.ms", "1000"}}};
}

Producer rig_producer() {
    const Rig& rig = Rig::get();
    return Producer{{.bootstrap_servers = rig.sasl_bootstrap,
                     .instance_name = "rig",
                     .ca_cert_path = rig.ca_file,
                     .flush_timeout = 15s}};
}

void produce_all(Producer& p, const std::string& pipeline, const std::vector<std::string>& values) {
    for (const auto& v : values) p.produce(v, {.topic = pipeline});
    ASSERT_EQ(p.flush(20s), 0);
}

std::vector<std::string> values_of(Consumer& c, std::size_t n, std::chrono::milliseconds timeout = 30s) {
    std::vector<std::string> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n && std::chrono::steady_clock::now() < deadline)
        if (auto m = c.poll(500ms)) out.push_back(m->value);
    return out;
}

}  // namespace

TEST(Consumer, LatestSeesOnlyMessagesProducedAfterItStarts) {
    TokenEnv env;
    env.write_token();
    const auto pipeline = unique_name("latest");
    auto p = rig_producer();
    produce_all(p, pipeline, {"old-1", "old-2"});
    Consumer c{consumer_options({pipeline})};
    ASSERT_TRUE(c.wait_for_assignment(30s)) << "no partition assigned";
    EXPECT_FALSE(c.poll(1500ms)) << "nothing old is delivered";
    produce_all(p, pipeline, {"new-1"});
    EXPECT_EQ(values_of(c, 1), std::vector<std::string>{"new-1"});
    EXPECT_EQ(c.token_claims()->sub, "pipeline");
}

TEST(Consumer, EarliestReplaysATopicWithKnownContents) {
    TokenEnv env;
    env.write_token();
    const auto pipeline = unique_name("replay");
    auto p = rig_producer();
    produce_all(p, pipeline, {"a", "b", "c", "d", "e"});
    Consumer c{consumer_options({pipeline}, "earliest", unique_name("replay-group"))};
    EXPECT_EQ(values_of(c, 5), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
    EXPECT_FALSE(c.poll(1s)) << "and nothing more";
}

TEST(Consumer, AStableGroupIdResumesWhereTheLastConsumerStopped) {
    TokenEnv env;
    env.write_token();
    const auto pipeline = unique_name("resume");
    const auto group = unique_name("resume-group");
    auto p = rig_producer();
    produce_all(p, pipeline, {"1", "2", "3", "4", "5", "6"});
    {
        Consumer first{consumer_options({pipeline}, "earliest", group)};
        std::vector<std::string> got;
        for (const auto& m : first.stream(1s, 3)) got.push_back(m.value);
        EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3"}));
        first.close();  // commits what was returned (auto-commit)
    }
    Consumer second{consumer_options({pipeline}, "earliest", group)};
    EXPECT_EQ(values_of(second, 3), (std::vector<std::string>{"4", "5", "6"}));
}

TEST(Consumer, TwoTopicsAtOnceAndCount) {
    TokenEnv env;
    env.write_token();
    const auto a = unique_name("two-a"), b = unique_name("two-b");
    auto p = rig_producer();
    produce_all(p, a, {"from-a"});
    produce_all(p, b, {"from-b"});
    Consumer c{consumer_options({}, "earliest", unique_name("two"))};
    c.subscribe({a, b});
    std::set<std::string> got;
    auto s = c.stream(1s, 2);
    for (const auto& m : s) got.insert(m.topic + "=" + m.value);
    EXPECT_EQ(got, (std::set<std::string>{"rig." + a + "=from-a", "rig." + b + "=from-b"}));
    EXPECT_EQ(s.end_reason(), "count");
}

TEST(Consumer, StopFromAnotherThreadEndsTheStream) {
    TokenEnv env;
    env.write_token();
    Consumer c{consumer_options({unique_name("stop")})};
    std::thread stopper{[&] {
        std::this_thread::sleep_for(1500ms);
        c.stop();
    }};
    const auto start = std::chrono::steady_clock::now();
    auto s = c.stream(500ms);
    std::size_t n = 0;
    for (const auto& m : s) n += m.value.size();
    stopper.join();
    EXPECT_EQ(s.end_reason(), "stop");
    EXPECT_EQ(n, 0u);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s) << "left within one poll timeout of stop()";
}

TEST(Consumer, ManualCommitResumesAfterTheCommittedMessage) {
    TokenEnv env;
    env.write_token();
    const auto pipeline = unique_name("manual");
    const auto group = unique_name("manual-group");
    auto p = rig_producer();
    produce_all(p, pipeline, {"m0", "m1", "m2", "m3"});
    auto o = consumer_options({pipeline}, "earliest", group);
    o.kafka_config["enable.auto.commit"] = "false";
    {
        Consumer c{o};
        std::vector<Message> got;
        for (const auto& m : c.stream(1s, 4)) got.push_back(m);
        ASSERT_EQ(got.size(), 4u);
        c.commit(got[1]);  // m0 and m1 are processed; m2 and m3 are not
        c.close();
    }
    Consumer again{o};
    EXPECT_EQ(values_of(again, 2), (std::vector<std::string>{"m2", "m3"}));
}

TEST(Consumer, AMessageWrittenByKcatWithKeyAndHeadersIsReadIntact) {
    TokenEnv env;
    env.write_token();
    const auto pipeline = unique_name("kcat");
    const char* kcat = std::getenv("KCAT");
    run_command("printf 'not json at all' | " + std::string{kcat ? kcat : "kcat"} + " -P -b " +
                Rig::get().plain_bootstrap + " -t rig." + pipeline + " -k G42 -H origin=kcat -H empty=");
    Consumer c{consumer_options({pipeline}, "earliest", unique_name("kcat-group"))};
    std::optional<Message> m;
    for (int i = 0; i < 60 && !m; ++i) m = c.poll(500ms);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->topic, "rig." + pipeline);
    EXPECT_EQ(m->key, "G42");
    EXPECT_EQ(m->value, "not json at all");
    ASSERT_EQ(m->headers.size(), 2u);
    EXPECT_EQ(m->headers[0].first, "origin");
    EXPECT_EQ(m->headers[0].second, "kcat");
    EXPECT_EQ(m->headers[1].first, "empty");
    EXPECT_TRUE(m->timestamp);
    try {
        (void)m->json();
        FAIL() << "expected std::invalid_argument";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string{e.what()}.find("is not JSON"), std::string::npos) << e.what();
    }
}

TEST(Consumer, ATopicCreatedAfterSubscribingIsDelivered) {
    TokenEnv env;
    env.write_token();
    const auto pipeline = unique_name("later");
    Consumer c{consumer_options({pipeline}, "earliest", unique_name("later-group"))};
    EXPECT_FALSE(c.poll(2s)) << "no topic yet, and no crash";
    auto p = rig_producer();
    produce_all(p, pipeline, {"first"});  // auto-creates the topic
    EXPECT_EQ(values_of(c, 1, 40s), std::vector<std::string>{"first"});
}

TEST(Consumer, CloseIsBoundedWhenTheBrokerIsGone) {
    TokenEnv env;
    env.write_token();
    auto o = consumer_options({"nothing"});
    o.bootstrap_servers = "127.0.0.1:9";
    o.token_audience = Rig::get().audience;
    Consumer c{o};
    EXPECT_FALSE(c.poll(1s));
    const auto start = std::chrono::steady_clock::now();
    c.close(3s);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    EXPECT_THROW(c.poll(1s), KafkaConsumerError);
}

TEST(Consumer, NoTokenIsAKafkaTokenError) {
    TokenEnv env;
    EXPECT_THROW(Consumer{consumer_options({"x"})}, KafkaTokenError);
}

TEST(Consumer, AProduceOnlyTokenIsMatchedToConsumeScopeOrRefused) {
    TokenEnv env;
    TokenSpec spec;
    spec.scope = "kafka.produce";  // not kafka.consume: discovery falls back (and warns), the broker decides
    env.write_token(spec);
    Consumer c{consumer_options({unique_name("scope")})};
    EXPECT_EQ(c.token_claims()->scope, "kafka.produce");
}

#include <csignal>

#include "signal_test.hpp"

TEST(ConsumerSignals, SigtermOnTheRealBrokerEndsTheStreamCleanly) {
    TokenEnv env;
    env.write_token();
    auto r = run_probe_and_signal(GRACEDB_STREAM_PROBE, "rig", SIGTERM, 10s);
    EXPECT_TRUE(r.exited) << "did not exit within 10 s of SIGTERM";
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("ended by signal, handlers restored"), std::string::npos) << r.output;
}

TEST(ConsumerSignals, SigintOnTheRealBrokerEndsTheStreamCleanly) {
    TokenEnv env;
    env.write_token();
    auto r = run_probe_and_signal(GRACEDB_STREAM_PROBE, "rig", SIGINT, 10s);
    EXPECT_TRUE(r.exited);
    EXPECT_EQ(r.status, 0) << r.output;
}
