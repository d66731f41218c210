// The supervisor against the real broker and the GraceDB stand-in: a burst of 1,000 events uploaded exactly
// once, also when the supervisor is killed (SIGKILL) and restarted, and when two share the work and one stops;
// malformed messages go to the dead-letter topic without stopping the others.
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>
#include <gracedb/supervisor.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <random>
#include <thread>

#include "itest.hpp"
#include "supervisor_world.hpp"

using namespace gracedb;
using namespace gracedb::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// One isolated GraceDB instance per test (tests/support/supervisor_world.hpp), and what the pipeline does.
struct World : SupervisorWorld {
    World() : SupervisorWorld{"burstpipe", std::chrono::minutes{10}, &gracedb::testing::create_topic} {}

    kafka::ProducerOptions producer_options() const {
        const Rig& rig = Rig::get();
        return {.bootstrap_servers = rig.sasl_bootstrap, .service_url = standin->service_url(), .ca_cert_path = rig.ca_file};
    }

    // Reserves and publishes `n` events over Kafka, as the pipeline would.
    std::vector<std::string> submit(int n) {
        GraceDb client{standin->service_url()};
        kafka::Producer p{producer_options()};
        std::vector<std::string> ids;
        for (int i = 0; i < n; ++i) {
            auto r = client.create_event("CBC", pipeline, "e.xml",
                                         {.filecontents = "event " + std::to_string(i), .kafka = &p});
            ids.push_back(r.json()["graceid"]);
        }
        return ids;
    }

    std::vector<std::string> supervisor_command(const std::string& group) const {
        return SupervisorWorld::supervisor_command(GRACEDB_KAFKA_TOOL, group);
    }
};

std::string tail(const std::string& path) { return log_tail(path); }

}  // namespace

TEST(SupervisorBurst, EveryEventExactlyOnceAcrossASigkillAndARestart) {
    World w;
    const auto ids = w.submit(1000);
    ASSERT_EQ(ids.size(), 1000u);
    const auto log = (w.env->dir() / "supervisor.log").string();
    const std::string group = "sup-" + w.instance;
    auto first = spawn_process(w.supervisor_command(group), w.supervisor_env(), log);
    const bool some = w.wait_uploads(300, 90s);
    ::kill(first.pid, SIGKILL);
    wait_process(first.pid, 10s);
    ASSERT_TRUE(some) << "the first supervisor uploaded " << w.standin->uploads() << "\n" << tail(log);
    const auto at_kill = w.standin->uploads();
    auto second = spawn_process(w.supervisor_command(group), w.supervisor_env(), log);
    const bool all = w.wait_uploads(1000, 120s);
    ::kill(second.pid, SIGTERM);
    EXPECT_EQ(wait_process(second.pid, 20s), 0) << "SIGTERM drains and exits cleanly\n" << tail(log);
    ASSERT_TRUE(all) << "uploaded " << w.standin->uploads() << "\n" << tail(log);
    std::cout << "killed after " << at_kill << " uploads; restarted supervisor finished; duplicates refused: "
              << w.standin->duplicate_uploads() << "\n";
    EXPECT_EQ(w.standin->event_count(), 1000u);
    EXPECT_EQ(w.standin->uploads(), 1000u) << "each event uploaded exactly once";
    for (const auto& id : ids) ASSERT_TRUE(w.standin->event(id)) << id;
    EXPECT_EQ(w.standin->alerts().size(), 1000u) << "one \"new\" alert per event";
}

TEST(SupervisorBurst, TwoSupervisorsShareTheWorkAndOneStops) {
    World w;
    const auto ids = w.submit(1000);
    const auto log_a = (w.env->dir() / "a.log").string(), log_b = (w.env->dir() / "b.log").string();
    const std::string group = "sup-" + w.instance;
    auto a = spawn_process(w.supervisor_command(group), w.supervisor_env(), log_a);
    auto b = spawn_process(w.supervisor_command(group), w.supervisor_env(), log_b);
    const bool some = w.wait_uploads(300, 90s);
    ::kill(a.pid, SIGTERM);
    EXPECT_EQ(wait_process(a.pid, 20s), 0) << tail(log_a);
    ASSERT_TRUE(some) << tail(log_a) << tail(log_b);
    const bool all = w.wait_uploads(1000, 120s);
    ::kill(b.pid, SIGTERM);
    EXPECT_EQ(wait_process(b.pid, 20s), 0) << tail(log_b);
    ASSERT_TRUE(all) << "uploaded " << w.standin->uploads() << "\n" << tail(log_b);
    EXPECT_EQ(w.standin->event_count(), 1000u);
    EXPECT_EQ(w.standin->uploads(), 1000u);
    const auto a_log = read_file(log_a), b_log = read_file(log_b);
    EXPECT_NE(a_log.find(" uploaded "), std::string::npos) << "the first supervisor did part of the work";
    EXPECT_NE(b_log.find(" uploaded "), std::string::npos) << "the second supervisor did part of the work";
}

TEST(SupervisorBurst, MalformedMessagesAreDeadLetteredAndTheRestGoesOn) {
    World w;
    const Rig& rig = Rig::get();
    kafka::Producer raw{w.producer_options()};
    raw.produce("this is not JSON", {.topic = w.pipeline, .key = "junk"});
    raw.produce(nlohmann::json{{"type", "event"}, {"graceid", "G1"}, {"gracedb_upload", true}}, {.topic = w.pipeline});
    raw.produce(nlohmann::json{{"type", "ping"}}, {.topic = w.pipeline});
    raw.produce(std::string_view{R"({"type":false})"}, {.topic = w.pipeline, .key = "poison"});  // stopped run() before
    ASSERT_EQ(raw.flush(20s), 0);
    const auto ids = w.submit(20);

    // In process this time, to time it: throughput and produce-to-upload delay.
    TokenEnv sup_env;  // the supervisor's own credentials
    write_secret_file(sup_env.token_file(), read_file(w.supervisor_token_file));
    Supervisor s{{.consumer = {.bootstrap_servers = rig.sasl_bootstrap,
                               .service_url = w.standin->service_url(),
                               .group_id = "sup-dlq-" + w.instance,
                               .ca_cert_path = rig.ca_file},
                  .service_url = w.standin->service_url(),
                  .handle_signals = false}};
    const auto deadline = Clock::now() + 90s;
    while ((s.stats().uploaded < 20 || s.stats().dead_lettered < 3) && Clock::now() < deadline) s.step();
    const auto st = s.stats();
    EXPECT_EQ(st.uploaded, 20u);
    EXPECT_EQ(st.dead_lettered, 3u);
    EXPECT_GE(st.skipped, 1u) << "the ping is skipped, not dead-lettered";
    const char* kcat = std::getenv("KCAT");
    const auto dlq = run_command(std::string{kcat ? kcat : "kcat"} + " -C -b " + rig.plain_bootstrap + " -t " +
                                 s.dead_letter_topic() + " -o beginning -c 3 -e -q -f '%k|%s|%h\\n'");
    EXPECT_NE(dlq.find("junk|this is not JSON|dlq.reason=the value is not JSON"), std::string::npos) << dlq;
    EXPECT_NE(dlq.find(R"("type":"event"}|dlq.reason=no group)"), std::string::npos) << dlq;
    EXPECT_NE(dlq.find(R"(poison|{"type":false}|dlq.reason=type is a boolean, not a string)"), std::string::npos) << dlq;
    EXPECT_EQ(s.dead_letter_topic().rfind(w.instance + ".", 0), std::string::npos) << "outside the instance prefix";
}

TEST(SupervisorBurst, ThroughputAndDelayAtASteadyRate) {
    World w;
    TokenEnv sup_env;  // the supervisor's credentials, read when it is built
    write_secret_file(sup_env.token_file(), read_file(w.supervisor_token_file));
    const Rig& rig = Rig::get();
    Supervisor s{{.consumer = {.bootstrap_servers = rig.sasl_bootstrap,
                               .service_url = w.standin->service_url(),
                               .group_id = "sup-rate-" + w.instance,
                               .ca_cert_path = rig.ca_file},
                  .service_url = w.standin->service_url(),
                  .rest = {.force_noauth = false},
                  .handle_signals = false}};
    TokenEnv pipe_env;
    TokenSpec spec;
    spec.aud = {rig.audience, "https://" + w.instance + ".localhost"};
    pipe_env.write_token(spec);
    // 1. Throughput: a backlog of 500 events, drained by one supervisor.
    w.submit(500);
    const auto drain_start = Clock::now();
    while (s.stats().uploaded < 500 && Clock::now() - drain_start < 120s) s.step();
    const double drain_s = std::chrono::duration<double>(Clock::now() - drain_start).count();
    ASSERT_EQ(s.stats().uploaded, 500u);
    // 2. Delay: events submitted one after another while the supervisor runs.
    std::atomic<bool> done{false};
    std::thread runner{[&] {
        while (!done.load()) s.step();
    }};
    const auto before = s.stats().delays_s.size();
    w.submit(300);
    const auto deadline = Clock::now() + 60s;
    while (s.stats().uploaded < 800 && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
    done.store(true);
    runner.join();
    auto st = s.stats();
    ASSERT_EQ(st.uploaded, 800u);
    std::vector<double> delays(st.delays_s.begin() + static_cast<long>(before), st.delays_s.end());
    std::sort(delays.begin(), delays.end());
    EXPECT_EQ(st.delays.count, 800u) << "every uploaded event's delay is in the bounded summary";
    EXPECT_LE(st.delays_s.size(), SupervisorStats::kRecentDelays);
    std::cout << "supervisor: drained a backlog of 500 events in " << drain_s << " s (" << 500 / drain_s
              << " events/s uploaded); at the pipeline's pace, produce-to-upload delay over " << delays.size()
              << " events: p50 " << delays[delays.size() / 2] * 1000 << " ms, p99 "
              << delays[delays.size() * 99 / 100] * 1000 << " ms\n";
}
