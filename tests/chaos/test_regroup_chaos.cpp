// Chaos, a reproduction loop (off unless GRACEDB_REGROUP_ROUNDS=N): a pattern consumer started as soon as
// its topic is created, every other round right after a node restart (as heal() does), gets the topic's
// partitions. It prints each round's time to the assignment.
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "cluster.hpp"
#include "itest.hpp"

using namespace gracedb;
using namespace gracedb::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(RegroupChaos, APatternConsumerStartedAsItsTopicIsCreatedGetsItsPartitions) {
    const char* rounds_env = std::getenv("GRACEDB_REGROUP_ROUNDS");
    if (!rounds_env) GTEST_SKIP() << "a reproduction loop: GRACEDB_REGROUP_ROUNDS=N runs N rounds";
    const int rounds = std::atoi(rounds_env);
    const Cluster& cluster = Cluster::get();
    cluster.heal();
    Healer healer;  // every node up again at the end, also after a failed assertion
    const Rig& rig = Rig::get();
    TokenEnv env;
    int late = 0;
    for (int round = 0; round < rounds; ++round) {
        if (round % 2 == 1) {
            const int node = 1 + (round / 2) % cluster.nodes();
            cluster.kill(node);
            cluster.start(node);
        }
        const std::string instance = "sup" + std::to_string(std::random_device{}() % 1000000);
        TokenSpec spec;
        spec.aud = {rig.audience, "https://" + instance + ".localhost"};
        env.write_token(spec, 10min);
        const std::string topic = instance + ".pipe";
        cluster.create_topic(topic, 2);
        kafka::Consumer c{{.bootstrap_servers = rig.sasl_bootstrap,
                           .instance_name = instance,
                           .group_id = unique_name("regroup"),
                           .ca_cert_path = rig.ca_file}};
        c.subscribe_all();
        const auto t0 = Clock::now();
        const bool assigned = c.wait_for_assignment(60s);
        const auto s = std::chrono::duration<double>(Clock::now() - t0).count();
        std::printf("round %d%s: %s after %.1f s\n", round, round % 2 == 1 ? " (node restarted)" : "",
                    assigned ? "assigned" : "NOT assigned", s);
        std::fflush(stdout);
        if (!assigned || s > 20) ++late;
        EXPECT_TRUE(assigned) << "round " << round << ": " << topic << " never assigned";
    }
    std::printf("%d of %d round(s) not assigned within 20 s\n", late, rounds);
}
