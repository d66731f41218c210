// The consumer's assignment watch on the real broker: a group with more members than partitions is healthy,
// and its idle member neither warns nor rejoins (the watch asks the broker what every member holds).
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "itest.hpp"
#include "log_capture.hpp"

using namespace gracedb::kafka;
using namespace gracedb::testing;
using namespace std::chrono_literals;

TEST(ConsumerRegroup, AnIdleMemberOfAGroupWithMorePartitionsThanMembersCausesNoRebalance) {
    TokenEnv env;
    env.write_token();
    const auto pipeline = unique_name("regroup-idle");
    create_topic("rig." + pipeline, 1);
    LogCapture log{gracedb::LogLevel::info};
    const Rig& rig = Rig::get();
    // A metadata refresh every second: the watch checks every second and would rejoin after 2 s.
    const ConsumerOptions o{.bootstrap_servers = rig.sasl_bootstrap,
                            .topics = {pipeline},
                            .instance_name = "rig",
                            .group_id = unique_name("regroup-idle-group"),
                            .ca_cert_path = rig.ca_file,
                            .kafka_config = {{"session.timeout.ms", "6000"},
                                             {"topic.metadata.refresh.interval.ms", "1000"}}};
    Consumer a{o};
    ASSERT_TRUE(a.wait_for_assignment(30s));
    Consumer b{o};
    std::atomic<bool> stop{false};
    auto poller = [&stop](Consumer& c) {
        return std::thread{[&stop, &c] {
            while (!stop.load()) c.poll(100ms);
        }};
    };
    std::thread ta = poller(a), tb = poller(b);
    struct Joiner {
        std::atomic<bool>& stop;
        std::thread& x;
        std::thread& y;
        ~Joiner() {
            stop.store(true);
            x.join();
            y.join();
        }
    } joiner{stop, ta, tb};
    // b's join: a revokes, then both are assigned (3 assignments with a's first).
    const auto assignments = [&] {
        const auto text = log.text();
        std::size_t n = 0;
        for (auto at = text.find(": assigned "); at != std::string::npos;
             at = text.find(": assigned ", at + 1))
            ++n;
        return n;
    };
    const auto settle = std::chrono::steady_clock::now() + 60s;
    while (assignments() < 3 && std::chrono::steady_clock::now() < settle)
        std::this_thread::sleep_for(100ms);  // polls a condition: the rebalance of b's join
    const auto held = a.assigned_partitions().size() + b.assigned_partitions().size();
    ASSERT_EQ(held, 1u) << "one member holds the one partition, the other none\n" << log.text();
    const auto before = log.text();
    // Four times the watch's grace: a watch that judged by the idle member alone would have rejoined.
    std::this_thread::sleep_for(8s);
    const auto after = log.text().substr(before.size());
    EXPECT_EQ(after.find("held by no member"), std::string::npos) << after;
    EXPECT_EQ(after.find(": assigned "), std::string::npos) << "no rebalance in a healthy group\n" << after;
    EXPECT_EQ(after.find(": revoked "), std::string::npos) << "no rebalance in a healthy group\n" << after;
}
