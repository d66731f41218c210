// Replay from a GPS time (ConsumerOptions::since_gps / until_gps, `gracedb-kafka listen --since-gps`) against
// the real broker: messages written with known broker timestamps on several partitions, read back by window.
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "itest.hpp"
#include "rawkafka.hpp"

using namespace gracedb::kafka;
using namespace gracedb::testing;
using namespace std::chrono_literals;

namespace {

// Unix milliseconds -> GPS seconds (18 leap seconds: any time since 2017).
double gps_of_ms(std::int64_t unix_ms) { return static_cast<double>(unix_ms) / 1000.0 - 315964800.0 + 18.0; }

// The topic's layout: partition p holds messages i = 0 .. count[p]-1, stamped base + i seconds, value "p<p>-<i>".
// Partition 2 stops before the window's end (it ends at the end of the partition, until_gps being past);
// partition 3 is empty (ends at once).
const std::map<int, int> kCounts = {{0, 10}, {1, 10}, {2, 6}, {3, 0}};

struct TimedTopic {
    std::string pipeline = unique_name("replay-gps");
    std::int64_t base_ms = 0;

    TimedTopic() {
        const Rig& rig = Rig::get();
        create_topic("rig." + pipeline, 4);
        // Ten minutes ago, on a whole second: the window is in the past, as in a replay.
        base_ms = (std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count() - 600) * 1000;
        // Idempotent: a retried first request must not land after the second (a plain producer reordered
        // p0-0 behind p0-1..p0-9 once under TSan, and the window then began at offset 2).
        RawClient producer{RD_KAFKA_PRODUCER,
                           {{"bootstrap.servers", rig.plain_bootstrap}, {"enable.idempotence", "true"}}};
        std::map<std::pair<int, int>, RawDelivery> reports;  // (partition, i) -> its delivery report
        for (const auto& [p, n] : kCounts)
            for (int i = 0; i < n; ++i) {
                const std::string topic = "rig." + pipeline, value = "p" + std::to_string(p) + "-" + std::to_string(i);
                RawDelivery* report = &reports[std::make_pair(p, i)];
                const auto err = rd_kafka_producev(
                    producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(p),
                    RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                    RD_KAFKA_V_TIMESTAMP(base_ms + i * 1000), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_OPAQUE(report), RD_KAFKA_V_END);
                EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
            }
        EXPECT_EQ(rd_kafka_flush(producer.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
        EXPECT_EQ(reports.size(), 26u);
        // The layout the expectations assume: message i of partition p at offset i.
        for (const auto& [at, d] : reports) {
            EXPECT_TRUE(d.reported && d.err == RD_KAFKA_RESP_ERR_NO_ERROR)
                << "p" << at.first << "-" << at.second << ": " << rd_kafka_err2str(d.err);
            EXPECT_EQ(d.offset, at.second) << "p" << at.first << "-" << at.second << " landed out of order";
        }
    }

    // What a window [from, to) seconds after base must give, as "p<p>-<i>".
    std::set<std::string> expected(int from, int to) const {
        std::set<std::string> out;
        for (const auto& [p, n] : kCounts)
            for (int i = from; i < std::min(to, n); ++i) out.insert("p" + std::to_string(p) + "-" + std::to_string(i));
        return out;
    }
};

ConsumerOptions replay_options(const std::string& pipeline) {
    const Rig& rig = Rig::get();
    return {.bootstrap_servers = rig.sasl_bootstrap,
            .topics = {pipeline},
            .instance_name = "rig",
            .group_id = unique_name("replay-gps-group"),
            .ca_cert_path = rig.ca_file,
            .kafka_config = {{"session.timeout.ms", "6000"}}};
}

}  // namespace

TEST(ConsumerReplay, ExactlyTheMessagesInsideTheGpsWindowOnEveryPartition) {
    TokenEnv env;
    env.write_token();
    TimedTopic t;
    auto o = replay_options(t.pipeline);
    o.since_gps = gps_of_ms(t.base_ms + 3000);  // at message 3: included
    o.until_gps = gps_of_ms(t.base_ms + 7000);  // at message 7: excluded
    Consumer c{o};
    std::multiset<std::string> got;
    std::map<int, std::vector<std::int64_t>> offsets;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!c.replay_finished() && std::chrono::steady_clock::now() < deadline)
        if (auto m = c.poll(500ms)) {
            got.insert(m->value);
            offsets[m->partition].push_back(m->offset);
            ASSERT_TRUE(m->timestamp);
        }
    ASSERT_TRUE(c.replay_finished()) << "every partition reaches until_gps (got " << got.size() << " messages)";
    const auto want = t.expected(3, 7);
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), want);
    EXPECT_EQ(got.size(), want.size()) << "no duplicates";
    EXPECT_EQ(offsets[0], (std::vector<std::int64_t>{3, 4, 5, 6}));
    EXPECT_EQ(offsets[2], (std::vector<std::int64_t>{3, 4, 5}));
    EXPECT_FALSE(c.poll(100ms)) << "nothing after the end";
    auto stream = c.stream(200ms);
    EXPECT_TRUE(stream.begin() == std::default_sentinel) << "a stream ends at once";
    EXPECT_EQ(stream.end_reason(), "until");
}

TEST(ConsumerReplay, SinceAloneStartsEveryPartitionAtTheGpsTimeAndKeepsGoing) {
    TokenEnv env;
    env.write_token();
    TimedTopic t;
    auto o = replay_options(t.pipeline);
    o.since_gps = gps_of_ms(t.base_ms + 8000) - 0.0005;  // half a millisecond before message 8
    Consumer c{o};
    std::set<std::string> got;
    const auto want = t.expected(8, 100);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (got.size() < want.size() && std::chrono::steady_clock::now() < deadline)
        if (auto m = c.poll(500ms)) got.insert(m->value);
    EXPECT_EQ(got, want);
    EXPECT_FALSE(c.poll(1s)) << "nothing older";
    EXPECT_FALSE(c.replay_finished()) << "without until_gps the consumer goes on";
}

TEST(ConsumerReplay, AWindowThatIsNotOneIsRefused) {
    auto o = replay_options("x");
    o.since_gps = 1400000000;
    o.until_gps = 1400000000;
    EXPECT_THROW(Consumer{o}, std::invalid_argument);
    o.until_gps.reset();
    o.since_gps = -3;
    try {
        Consumer c{o};
        FAIL() << "a negative GPS time was accepted";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string{e.what()}.find("since_gps"), std::string::npos) << e.what();
    }
}

TEST(CliReplay, ListenSinceAndUntilGpsPrintsTheWindowAndExits) {
    TokenEnv env;
    env.write_token();
    TimedTopic t;
    const Rig& rig = Rig::get();
    std::ostringstream cmd;
    cmd.precision(17);
    cmd << GRACEDB_KAFKA_TOOL << " listen -b " << rig.sasl_bootstrap << " --ca-cert " << rig.ca_file
        << " --instance rig -t " << t.pipeline << " --since-gps " << gps_of_ms(t.base_ms + 2000) << " --until-gps "
        << gps_of_ms(t.base_ms + 5000);
    const auto out = run_command("timeout 60 " + cmd.str());  // exits by itself at the window's end
    std::set<std::string> got;
    std::istringstream lines{out};
    for (std::string line; std::getline(lines, line);) got.insert(nlohmann::json::parse(line)["value"]);
    EXPECT_EQ(got, t.expected(2, 5)) << out;
}
