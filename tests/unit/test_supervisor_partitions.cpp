// The supervisor's partitions (src/supervisor/partitions.hpp) on librdkafka's mock cluster: a partition newly
// assigned is resumed only if this supervisor paused it (a resume of a partition never paused makes
// librdkafka 2.0.2 start its fetch again: messages delivered twice).
#include <gracedb/kafka.hpp>
#include <gracedb/log.hpp>
#include <gracedb/testing/mock_cluster.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/partitions.hpp"

using namespace gracedb;
using namespace std::chrono_literals;
using gracedb::testing::MockCluster;

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kMessages = 20;
constexpr auto kDeadline = 30s;  // for events that take milliseconds on an idle machine

// Restores the default log handler and threshold at the end of a test that replaced them.
struct LogGuard {
    LogLevel level = log_level();
    ~LogGuard() {
        set_log_handler({});
        set_log_level(level);
    }
};

std::map<std::string, std::string> plaintext() { return {{"security.protocol", "plaintext"}}; }

void produce(const MockCluster& cluster, int first, int last) {
    kafka::Producer p{{.bootstrap_servers = cluster.bootstrap_servers(),
                       .instance_name = "mock",
                       .use_ssl = false,
                       .kafka_config = plaintext()}};
    for (int i = first; i <= last; ++i)
        p.produce(std::string_view{"m" + std::to_string(i)}, {.topic = "parts"});
    ASSERT_EQ(p.flush(kDeadline), 0) << "messages not delivered to the mock cluster";
}

// Polls as the supervisor does (a poll, then sync()) until offset `last` is delivered; returns the offsets
// delivered, in order.
std::vector<std::int64_t> poll_until(kafka::Consumer& c, supervisor_detail::Partitions& parts,
                                     std::int64_t last) {
    std::vector<std::int64_t> offsets;
    const auto deadline = Clock::now() + kDeadline;
    while (Clock::now() < deadline) {
        auto m = c.poll(200ms);
        parts.sync();
        if (!m) continue;
        offsets.push_back(m->offset);
        if (m->offset == last) return offsets;
    }
    ADD_FAILURE() << "offset " << last << " not delivered within " << kDeadline.count() << " s";
    return offsets;
}

}  // namespace

// Never paused: the assignment is left as librdkafka made it. librdkafka says each application resume in its
// debug log ("Application resuming N partition(s)"), which is what is counted; the consequence a supervisor
// meets (a fetch started again: an offset delivered twice, seen in 2 runs of 5 on the old code) is checked
// too.
// The sentinel is produced only after the last of the first batch came, so a fetch started again by the first
// sync() would be over by the time the sentinel is delivered.
TEST(SupervisorPartitions, APartitionNeverPausedIsNotResumedSoNothingIsFetchedTwice) {
    MockCluster cluster;
    cluster.create_topic("mock.parts", 1);
    produce(cluster, 0, kMessages - 1);
    LogGuard guard;
    static std::atomic<int> app_resumes{0};
    set_log_handler([](LogLevel, std::string_view m) {
        if (m.find("Application resuming") != std::string_view::npos) ++app_resumes;
    });
    set_log_level(LogLevel::debug);
    kafka::Consumer c{{.bootstrap_servers = cluster.bootstrap_servers(),
                       .topics = {"parts"},
                       .instance_name = "mock",
                       .group_id = "g-never-paused",
                       .use_ssl = false,
                       .auto_offset_reset = "earliest",
                       .kafka_config = {{"security.protocol", "plaintext"},
                                        {"enable.auto.commit", "false"},
                                        {"fetch.wait.max.ms", "10"},
                                        {"debug", "topic"}}}};
    supervisor_detail::Partitions parts{c, [](const kafka::KafkaError& e, const char* call) {
                                            ADD_FAILURE() << call << ": " << e.what();
                                        }};
    auto offsets = poll_until(c, parts, kMessages - 1);
    produce(cluster, kMessages, kMessages);
    const auto more = poll_until(c, parts, kMessages);
    offsets.insert(offsets.end(), more.begin(), more.end());
    EXPECT_EQ(parts.owned().size(), 1u);
    EXPECT_EQ(parts.paused_count(), 0u);
    EXPECT_EQ(app_resumes.load(), 0) << "a partition this supervisor never paused was resumed";
    std::vector<std::int64_t> expected;
    for (int i = 0; i <= kMessages; ++i) expected.push_back(i);
    EXPECT_EQ(offsets, expected) << "each offset delivered once, in order";
}
