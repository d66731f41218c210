// Threads the library promises to support, on librdkafka's mock cluster: several threads calling produce()
// while another serves delivery reports, and stop() from another thread while a stream waits. Run like every
// unit test, and under ThreadSanitizer by scripts/check-hardening.sh (which is what these tests are for).
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include <gracedb/testing/mock_cluster.hpp>

using namespace gracedb::kafka;
using gracedb::testing::MockCluster;
using namespace std::chrono_literals;

TEST(Concurrency, ProduceFromFourThreadsWhileAFifthServesDeliveryReports) {
    MockCluster cluster;
    cluster.create_topic("mock.concurrent", 4);
    Producer p{{.bootstrap_servers = cluster.bootstrap_servers(),
                .instance_name = "mock",
                .kafka_config = {{"security.protocol", "plaintext"}}}};
    constexpr int threads = 4, per_thread = 250;
    std::atomic<int> delivered{0}, failed{0};
    std::mutex seen_mutex;
    std::set<std::string> seen;  // keys whose report came back
    std::atomic<bool> producing{true};
    std::thread poller{[&] {
        while (producing.load()) p.poll(10ms);
    }};
    std::vector<std::thread> producers;
    for (int t = 0; t < threads; ++t)
        producers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                const std::string key = std::to_string(t) + "-" + std::to_string(i);
                // JSON values: each thread writes its text in its own reusable buffer.
                p.produce(nlohmann::json{{"thread", t}, {"i", i}, {"text", std::string(static_cast<std::size_t>(i), 'x')}},
                          {.topic = "concurrent", .key = key, .on_delivery = [&, key](const DeliveryReport& r) {
                               (r.error ? failed : delivered).fetch_add(1);
                               std::lock_guard lock{seen_mutex};
                               seen.insert(key);
                           }});
            }
        });
    for (auto& t : producers) t.join();
    producing = false;
    poller.join();
    EXPECT_EQ(p.flush(30s), 0);
    EXPECT_EQ(delivered.load(), threads * per_thread);
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(threads * per_thread)) << "one report per message";
}

TEST(Concurrency, StopFromAnotherThreadEndsAWaitingStream) {
    MockCluster cluster;
    cluster.create_topic("mock.quiet", 1);
    Consumer c{{.bootstrap_servers = cluster.bootstrap_servers(),
                .topics = {"quiet"},
                .instance_name = "mock",
                .kafka_config = {{"security.protocol", "plaintext"}}}};
    std::atomic<bool> started{false};
    std::thread stopper{[&] {
        while (!started.load()) std::this_thread::sleep_for(1ms);
        std::this_thread::sleep_for(50ms);  // let the stream reach its poll; any moment would do
        c.stop();
    }};
    auto stream = c.stream(200ms);
    started = true;
    std::size_t n = 0;
    for (const auto& msg : stream) {
        (void)msg;
        ++n;
    }
    stopper.join();
    EXPECT_EQ(n, 0u) << "nothing was produced";
    EXPECT_EQ(stream.end_reason(), "stop");
}
