// Chaos: token expiry mid-stream on the cluster. Each of the three brokers ends a session at its token's exp
// (KIP-368); 20 s tokens are renewed on disk every 10 s, as htgettoken in cron does. A keyed stream from the
// library's Producer and a library Consumer in a stable group run across several expiries: 0 lost (every
// message reported delivered is in the topic, read independently), 0 failed, and the consumer skips nothing.
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <sstream>
#include <thread>

#include "cluster.hpp"
#include "itest.hpp"

using namespace gracedb;
using namespace gracedb::kafka;
using namespace gracedb::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(TokenChaos, ShortLivedTokensRenewedOnDiskLoseNothingOnTheCluster) {
    const Cluster& cluster = Cluster::get();
    cluster.heal();
    const Rig& rig = Rig::get();
    const auto duration = 65s * chaos_scale();  // three 20 s lifetimes at the default scale
    const std::string pipeline = unique_name("chaos-token");
    const std::string topic = "rig." + pipeline;
    cluster.create_topic(topic, 3);
    TokenEnv env;
    env.write_token({}, 20s);
    TokenRenewer renewer{env, 20s, 10s};

    // The follower: a library consumer in a stable group, polling on its own thread like an application.
    std::mutex seen_mutex;
    std::map<long, int> seen;
    std::atomic<bool> stop_consumer{false};
    std::atomic<long> consumer_errors{0};
    std::string first_consumer_error;
    Consumer consumer{{.bootstrap_servers = rig.sasl_bootstrap,
                       .topics = {pipeline},
                       .instance_name = "rig",
                       .group_id = unique_name("chaos-token-group"),
                       .ca_cert_path = rig.ca_file,
                       .reload_buffer = 5s,
                       .auto_offset_reset = "earliest"}};
    std::thread follower{[&] {
        while (!stop_consumer.load()) {
            try {
                if (auto m = consumer.poll(200ms)) {
                    std::lock_guard lock{seen_mutex};
                    ++seen[std::stol(m->value)];
                }
            } catch (const std::exception& e) {  // an application logs and polls on
                if (consumer_errors++ == 0) first_consumer_error = e.what();
            }
        }
    }};
    struct Joiner {
        std::thread& t;
        std::atomic<bool>& stop;
        ~Joiner() {
            stop.store(true);
            if (t.joinable()) t.join();
        }
    } joiner{follower, stop_consumer};

    Producer p{{.bootstrap_servers = rig.sasl_bootstrap,
                .topic = pipeline,
                .instance_name = "rig",
                .ca_cert_path = rig.ca_file,
                .reload_buffer = 5s,
                .flush_timeout = 60s}};
    std::vector<int> state;  // 0 no report, 1 delivered, 2 failed
    long producer_errors = 0;
    std::string first_producer_error;
    const auto end = Clock::now() + duration;
    auto next = Clock::now();
    while (Clock::now() < end) {
        const std::size_t id = state.size();
        state.push_back(0);
        try {
            p.produce(std::to_string(id), {.key = "k" + std::to_string(id % 8),
                                           .on_delivery = [&state, id](const DeliveryReport& r) {
                                               state[id] = r.error ? 2 : 1;
                                           }});
            p.poll(0ms);
        } catch (const std::exception& e) {
            if (producer_errors++ == 0) first_producer_error = e.what();
        }
        next += 10ms;  // ~100 messages/s
        if (next < Clock::now() - 200ms) next = Clock::now();
        std::this_thread::sleep_until(next);
    }
    std::string flush_error;
    try {
        p.flush(120s);
    } catch (const std::exception& e) {
        flush_error = e.what();
    }
    long delivered = 0, failed = 0, unreported = 0;
    for (int s : state) (s == 1 ? delivered : s == 2 ? failed : unreported)++;

    // The consumer catches up with everything delivered (or the deadline says it skipped some).
    const auto deadline = Clock::now() + 90s;
    while (Clock::now() < deadline) {
        {
            std::lock_guard lock{seen_mutex};
            if (static_cast<long>(seen.size()) >= delivered) break;
        }
        std::this_thread::sleep_for(200ms);
    }
    stop_consumer.store(true);
    follower.join();

    const auto messages = cluster.read_all(topic);
    std::map<long, int> in_topic;
    for (const auto& m : messages) ++in_topic[std::stol(m.value)];
    long lost = 0, duplicated = 0, skipped = 0, consumer_duplicates = 0;
    for (std::size_t id = 0; id < state.size(); ++id) {
        const auto it = in_topic.find(static_cast<long>(id));
        const int copies = it == in_topic.end() ? 0 : it->second;
        if (state[id] == 1 && copies == 0) ++lost;
        if (copies > 1) duplicated += copies - 1;
        if (copies > 0 && !seen.count(static_cast<long>(id))) ++skipped;
    }
    for (const auto& [id, n] : seen) consumer_duplicates += n - 1;
    std::ostringstream fig;
    fig << "token chaos: " << std::chrono::duration_cast<std::chrono::seconds>(duration).count()
        << " s of 20 s tokens renewed on disk " << renewer.renewals << " times; producer: produced " << state.size()
        << ", delivered " << delivered << ", failed " << failed << ", no report " << unreported << ", lost " << lost
        << ", duplicated " << duplicated << ", errors raised " << producer_errors << ", tokens picked up "
        << p.token_refresh_count() << "; consumer: received " << seen.size() << " distinct, skipped " << skipped
        << ", duplicates " << consumer_duplicates << ", errors raised " << consumer_errors;
    chaos_log(fig.str());
    if (!first_producer_error.empty()) chaos_log("first producer error: " + first_producer_error);
    if (!first_consumer_error.empty()) chaos_log("first consumer error: " + first_consumer_error);
    if (!flush_error.empty()) chaos_log("flush raised: " + flush_error);

    EXPECT_EQ(lost, 0);
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(unreported, 0);
    EXPECT_EQ(duplicated, 0);
    EXPECT_EQ(producer_errors, 0) << first_producer_error;
    EXPECT_TRUE(flush_error.empty()) << flush_error;
    EXPECT_EQ(skipped, 0) << "the consumer received every message in the topic";
    EXPECT_GE(p.token_refresh_count(), static_cast<std::uint64_t>(duration / 20s))
        << "each lifetime needs a renewed token";
    EXPECT_GE(delivered, 4000L * chaos_scale()) << "the stream flowed";
}
