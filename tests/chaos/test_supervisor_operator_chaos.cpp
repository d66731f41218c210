// Chaos, as GraceDB's operators meet it (issue 21), on the 3-node cluster, while a pipeline publishes events
// without pause: the supervisor's token is refused for 60 s (a token for the wrong GraceDB audience: GraceDB
// answers 403) and then renewed on disk; a second supervisor with the same configuration joins and leaves while
// the first is blocked (fetching paused); GraceDB, or something in front of it, answers 403, then 302, then 404
// to uploads for a while; GraceDB gains a pipeline, whose events are then published; forged messages arrive on
// the open test topic and on the pipeline's topic. Must hold: every event uploaded exactly once, none
// dead-lettered but the forged ones, none of the forged uploaded, nothing paused at the end.
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <regex>
#include <tuple>
#include <sstream>
#include <thread>

#include "cluster.hpp"
#include "itest.hpp"
#include "supervisor_world.hpp"
#include "testrig.hpp"

using namespace gracedb;
using namespace gracedb::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

[[maybe_unused]] const int kAllowTokenOverHttp = ::setenv("GRACEDB_ALLOW_TOKEN_OVER_HTTP", "1", 1);

struct World : SupervisorWorld {
    World()
        : SupervisorWorld{"opchaospipe", std::chrono::hours{2},
                          [](const std::string& topic, int partitions) { Cluster::get().create_topic(topic, partitions); }} {}

};

std::size_t count_matches(const std::string& text, const std::regex& re) {
    return static_cast<std::size_t>(std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

}  // namespace

TEST(SupervisorChaos, OperatorFaultsLoseNothingAndUploadNothingForged) {
    const Cluster& cluster = Cluster::get();
    cluster.heal();
    Healer healer;
    World w;
    const Rig& rig = Rig::get();
    const std::string late_pipeline = "LatePipe";
    cluster.create_topic(w.instance + ".latepipe", 4);
    cluster.create_topic(w.instance + ".test", 1);
    cluster.create_topic("gracedb-deadletter." + w.instance, 1);
    const std::string group = "sup-" + w.instance;
    const auto log_a = (w.env->dir() / "supervisor-a.log").string();
    const auto log_b = (w.env->dir() / "supervisor-b.log").string();

    // The supervisor, with a token whose GraceDB audience is wrong, and its metrics endpoint.
    w.write_supervisor_token("https://not-this-gracedb.example.org", std::chrono::hours{2});
    auto cmd = w.supervisor_command(GRACEDB_KAFKA_TOOL, group);
    cmd.insert(cmd.end(), {"--metrics", "127.0.0.1:0"});
    auto a = spawn_process(cmd, w.supervisor_env(), log_a);
    Child b;
    struct Reaper {
        Child& a;
        Child& b;
        ~Reaper() {
            for (Child* c : {&a, &b})
                if (c->pid > 0) {
                    ::kill(c->pid, SIGKILL);
                    wait_process(c->pid, 10s);
                }
        }
    } reaper{a, b};
    const int port = metrics_port_from_log(log_a, 60s);
    ASSERT_GT(port, 0) << log_tail(log_a);

    // The pipeline: an event every 50 ms, over Kafka; LatePipe's events once GraceDB has the pipeline.
    std::mutex ids_mutex;
    std::vector<std::string> ids;
    std::vector<std::string> failures;
    std::atomic<bool> stop{false}, late{false};
    std::thread pipeline{[&] {
        GraceDb client{w.standin->service_url()};
        kafka::Producer p{{.bootstrap_servers = rig.sasl_bootstrap, .service_url = w.standin->service_url(),
                           .ca_cert_path = rig.ca_file, .flush_timeout = 60s}};
        for (int i = 0; !stop.load(); ++i) {
            const std::string pipe = late.load() && i % 2 ? late_pipeline : w.pipeline;
            try {
                auto r = client.create_event("CBC", pipe, "e.xml", {.filecontents = "event " + std::to_string(i),
                                                                    .kafka = &p});
                std::lock_guard lock{ids_mutex};
                ids.push_back(r.json()["graceid"]);
            } catch (const std::exception& e) {
                std::lock_guard lock{ids_mutex};
                failures.push_back(e.what());
            }
            std::this_thread::sleep_for(50ms);
        }
    }};
    struct Joiner {
        std::thread& t;
        std::atomic<bool>& stop;
        ~Joiner() {
            stop.store(true);
            if (t.joinable()) t.join();
        }
    } joiner{pipeline, stop};
    auto published = [&] {
        std::lock_guard lock{ids_mutex};
        return ids.size();
    };

    // 1. 60 s with the token refused; a second supervisor (same configuration) joins and leaves meanwhile.
    const auto t_start = Clock::now();
    std::this_thread::sleep_for(15s);
    auto [ready_status, ready_body] = scrape(port, "/readyz");
    for (const auto until = Clock::now() + 20s; ready_status != 503 && Clock::now() < until;) {
        std::this_thread::sleep_for(100ms);
        std::tie(ready_status, ready_body) = scrape(port, "/readyz");
    }
    chaos_log("token refused: published " + std::to_string(published()) + ", uploaded " +
              std::to_string(w.standin->uploads()) + ", /readyz " + std::to_string(ready_status) + " " + ready_body);
    EXPECT_EQ(ready_status, 503) << ready_body;
    EXPECT_EQ(w.standin->uploads(), 0u) << "uploaded with a refused token?";
    b = spawn_process(w.supervisor_command(GRACEDB_KAFKA_TOOL, group), w.supervisor_env(), log_b);
    std::this_thread::sleep_for(20s);
    ::kill(b.pid, SIGTERM);
    EXPECT_EQ(wait_process(b.pid, 30s), 0) << "the second supervisor drains and leaves\n" << log_tail(log_b);
    b.pid = -1;
    chaos_log("second supervisor joined and left while the first was blocked");
    std::this_thread::sleep_until(t_start + 60s);
    w.write_supervisor_token("https://" + w.instance + ".localhost", std::chrono::hours{2});
    chaos_log("token renewed on disk after 60 s: published " + std::to_string(published()));
    const auto renewed = published();
    ASSERT_TRUE(w.wait_uploads(renewed, 120s)) << "uploaded " << w.standin->uploads() << " of " << renewed << "\n"
                                               << log_tail(log_a);

    // 2. Refusals in front of GraceDB: 403, then 302, then 404 (not about any event), a while each.
    for (int status : {403, 302, 404}) {
        w.standin->fail_next("/upload", status, 40);
        chaos_log("the stand-in answers " + std::to_string(status) + " to the next 40 uploads");
        std::this_thread::sleep_for(8s);
        w.standin->clear_failures();
    }
    // 3. GraceDB gains a pipeline; its events follow. And forged messages.
    w.standin->add_name("pipelines", late_pipeline);
    late.store(true);
    chaos_log("GraceDB gained pipeline " + late_pipeline);
    GraceDb owner{w.standin->service_url()};
    std::vector<std::string> victims;
    for (int i = 0; i < 3; ++i) victims.push_back(owner.reserve_graceid("CBC", w.pipeline).json()["graceid"]);
    {
        kafka::Producer attacker{{.bootstrap_servers = rig.sasl_bootstrap, .service_url = w.standin->service_url(),
                                  .ca_cert_path = rig.ca_file}};
        auto forged = [&](const std::string& id) {
            return nlohmann::json{{"type", "event"}, {"graceid", id}, {"group", "CBC"}, {"pipeline", w.pipeline},
                                  {"eventFile", {"evil.xml", "ZXZpbA=="}}};
        };
        attacker.produce(forged(victims[0]), {.topic = "test", .key = victims[0]});
        attacker.produce(forged(victims[1]), {.topic = w.pipeline, .key = std::string{"G999999"}});
        attacker.produce(forged(victims[2]), {.topic = w.pipeline});
        ASSERT_EQ(attacker.flush(60s), 0);
    }
    std::this_thread::sleep_for(10s);
    stop.store(true);
    pipeline.join();
    const auto n = published();
    const bool all = w.wait_uploads(n, 180s);
    std::this_thread::sleep_for(2s);  // a straggler would show as a 409 (a duplicate)
    const auto metrics = scrape(port, "/metrics").second;
    ::kill(a.pid, SIGTERM);
    const int status = wait_process(a.pid, 30s);
    a.pid = -1;
    const std::string text = read_file(log_a) + read_file(log_b);
    const auto dead = count_matches(text, std::regex{R"( dead-lettered \()"});
    const auto bound = count_matches(text, std::regex{R"( dead-lettered \((group|the message))"});
    const auto dlq = cluster.read_all("gracedb-deadletter." + w.instance);
    std::size_t late_events = 0;
    {
        std::lock_guard lock{ids_mutex};
        for (const auto& id : ids)
            if (auto e = w.standin->event(id); e && e->value("pipeline", "") == late_pipeline) ++late_events;
    }
    std::ostringstream fig;
    fig << "supervisor operator chaos: " << n << " events published (" << failures.size() << " failed), "
        << late_events << " of them of " << late_pipeline << "; stand-in: events " << w.standin->event_count()
        << ", uploads " << w.standin->uploads() << ", 409s " << w.standin->duplicate_uploads()
        << "; dead-lettered " << dead << " (forged, by the topic/key rule: " << bound << "), dead-letter topic "
        << dlq.size() << "; retries " << metric_value(metrics, R"(gracedb_supervisor_messages_total{outcome="retrying"})")
        << "; paused at the end " << metric_value(metrics, "gracedb_supervisor_paused_partitions") << ", blocked "
        << metric_value(metrics, "gracedb_supervisor_blocked");
    chaos_log(fig.str());
    for (std::size_t i = 0; i < failures.size() && i < 5; ++i) chaos_log("publish failed: " + failures[i]);

    EXPECT_EQ(status, 0) << log_tail(log_a);
    ASSERT_TRUE(all) << "uploaded " << w.standin->uploads() << " of " << n << "\n" << log_tail(log_a);
    EXPECT_TRUE(failures.empty()) << failures.front();
    EXPECT_EQ(w.standin->event_count(), n) << "every event, and nothing else";
    EXPECT_EQ(w.standin->uploads(), n) << "each event uploaded exactly once";
    EXPECT_GT(late_events, 0u) << "events of the pipeline GraceDB gained were uploaded";
    for (const auto& v : victims) EXPECT_FALSE(w.standin->event_file(v)) << "a forged message was uploaded: " << v;
    EXPECT_EQ(dead, 3u) << "only the forged messages are dead-lettered";
    EXPECT_EQ(bound, 3u);
    EXPECT_EQ(dlq.size(), 3u);
    EXPECT_EQ(metric_value(metrics, "gracedb_supervisor_paused_partitions"), 0.0) << "nothing paused at the end";
    EXPECT_EQ(metric_value(metrics, "gracedb_supervisor_blocked"), 0.0);
}
