// Chaos, a reproduction loop (off unless GRACEDB_FRESH_TOPIC_ROUNDS=N): an idempotent producer started the moment
// its 3-partition topic is created on the 3-node cluster (as every chaos test starts) delivers its first messages
// within seconds. Seen twice in full runs (ConsumerChaos): 5 messages delivered in the first 0.2 s, then nothing
// for 120 s. Each round prints its time to the last delivery; a stalled round prints the producer's log.
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "cluster.hpp"
#include "itest.hpp"
#include "log_keeper.hpp"

using namespace gracedb;
using namespace gracedb::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(FreshTopicChaos, AnIdempotentProducerOnATopicJustCreatedDeliversAtOnce) {
    const char* rounds_env = std::getenv("GRACEDB_FRESH_TOPIC_ROUNDS");
    if (!rounds_env) GTEST_SKIP() << "a reproduction loop: GRACEDB_FRESH_TOPIC_ROUNDS=N runs N rounds";
    const int rounds = std::atoi(rounds_env);
    const Cluster& cluster = Cluster::get();
    cluster.heal();
    const Rig& rig = Rig::get();
    TokenEnv env;
    env.write_token({}, 2h);
    int stalled = 0;
    for (int round = 0; round < rounds && stalled == 0; ++round) {
        LogKeeper log;
        const std::string pipeline = unique_name("fresh");
        cluster.create_topic("rig." + pipeline, 3);
        std::atomic<int> delivered{0}, failed{0};
        std::mutex mutex;
        std::string first_failure;
        const auto t0 = Clock::now();
        kafka::Producer p{{.bootstrap_servers = rig.sasl_bootstrap, .topic = pipeline, .instance_name = "rig",
                           .ca_cert_path = rig.ca_file, .flush_timeout = 30s,
                           .kafka_config = {{"debug", "eos,topic"}}}};
        constexpr int kMessages = 40;
        std::string raised;  // what produce() or poll() raised (then the round ends there)
        try {
            for (int seq = 0; seq < kMessages; ++seq) {  // ~100 messages/s, as ConsumerChaos
                p.produce(nlohmann::json{{"seq", seq}},
                          {.key = "k" + std::to_string(seq % 8), .on_delivery = [&](const kafka::DeliveryReport& r) {
                               if (!r.error) {
                                   ++delivered;
                               } else if (++failed == 1) {
                                   std::lock_guard lock{mutex};
                                   first_failure = *r.error + " [" + r.rdkafka_error + "]";
                               }
                           }});
                p.poll(0ms);
                std::this_thread::sleep_for(10ms);
            }
            const auto deadline = Clock::now() + 30s;
            while (delivered.load() + failed.load() < kMessages && Clock::now() < deadline) p.poll(100ms);
        } catch (const std::exception& e) {
            raised = e.what();
        }
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        std::printf("round %d: %d delivered, %d failed after %.2f s\n", round, delivered.load(), failed.load(), s);
        std::fflush(stdout);
        if (delivered.load() < kMessages) {
            ++stalled;
            std::lock_guard lock{mutex};
            ADD_FAILURE() << "round " << round << ": " << delivered.load() << " of " << kMessages
                          << " delivered in 30 s, " << failed.load() << " failed (the first: " << first_failure
                          << "); raised: " << (raised.empty() ? "nothing" : raised) << "; the producer's log:\n"
                          << log.producer_state(300);
        }
    }
}
