// The supervisor as its operator runs it (issue 21), on the real broker: `gracedb-kafka supervise --metrics`
// with a SciToken whose GraceDB audience is wrong (GraceDB treats it as anonymous and answers 403, never 401).
// Nothing is dead-lettered or committed past; the supervisor blocks, says so in its log and on /readyz, and
// resumes by itself once a right token is put in place on disk; /metrics counts what happened.
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <regex>
#include <tuple>
#include <thread>

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
    World() : SupervisorWorld{"operpipe", std::chrono::minutes{10}, &gracedb::testing::create_topic} {}

    std::vector<std::string> submit(int n) {
        const Rig& rig = Rig::get();
        GraceDb client{standin->service_url()};
        kafka::Producer p{{.bootstrap_servers = rig.sasl_bootstrap, .service_url = standin->service_url(),
                           .ca_cert_path = rig.ca_file}};
        std::vector<std::string> ids;
        for (int i = 0; i < n; ++i)
            ids.push_back(client.create_event("CBC", pipeline, "e.xml", {.filecontents = "e" + std::to_string(i),
                                                                         .kafka = &p})
                              .json()["graceid"]);
        return ids;
    }
};

}  // namespace

TEST(SupervisorOperator, ATokenForTheWrongAudienceBlocksThenARenewedOneOnDiskResumes) {
    World w;
    w.write_supervisor_token("https://not-this-gracedb.example.org", std::chrono::hours{2});
    const auto log = (w.env->dir() / "supervisor.log").string();
    auto cmd = w.supervisor_command(GRACEDB_KAFKA_TOOL, "sup-" + w.instance);
    cmd.insert(cmd.end(), {"--metrics", "127.0.0.1:0"});
    auto sup = spawn_process(cmd, w.supervisor_env(), log);
    struct Reaper {
        pid_t& pid;
        ~Reaper() {
            if (pid > 0) {
                ::kill(pid, SIGKILL);
                wait_process(pid, 10s);
            }
        }
    } reaper{sup.pid};
    // Its metrics port, from its log.
    const int port = metrics_port_from_log(log, 60s);
    ASSERT_GT(port, 0) << log_tail(log);
    EXPECT_EQ(scrape(port, "/healthz").first, 200);

    const auto t0 = Clock::now();
    const auto first = w.submit(5);
    // Blocked: every upload refused (403), said in the log and on /readyz; nothing uploaded or dead-lettered.
    bool blocked = false;
    for (const auto until = Clock::now() + 60s; !blocked && Clock::now() < until;) {
        blocked = read_file(log).find("BLOCKED") != std::string::npos;
        if (!blocked) std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(blocked) << log_tail(log);
    const auto t_blocked = Clock::now();
    auto [ready_status, ready_body] = scrape(port, "/readyz");
    for (const auto until = Clock::now() + 10s; ready_status != 503 && Clock::now() < until;) {
        std::this_thread::sleep_for(50ms);  // the endpoint shows the state of the supervisor's last step
        std::tie(ready_status, ready_body) = scrape(port, "/readyz");
    }
    EXPECT_EQ(ready_status, 503) << ready_body;
    EXPECT_NE(ready_body.find("HTTP 403"), std::string::npos) << ready_body;
    EXPECT_EQ(w.standin->uploads(), 0u);
    const auto later = w.submit(5);  // published while it is blocked

    // The operator puts a right token in place: the supervisor resumes by itself.
    w.write_supervisor_token("https://" + w.instance + ".localhost", std::chrono::hours{2});
    ASSERT_TRUE(w.wait_uploads(first.size() + later.size(), 90s))
        << "uploaded " << w.standin->uploads() << "\n" << log_tail(log);
    const auto t_resumed = Clock::now();
    std::cout << "blocked " << std::chrono::duration<double>(t_blocked - t0).count()
              << " s after the first publish; all 10 uploaded "
              << std::chrono::duration<double>(t_resumed - t_blocked).count()
              << " s after the token was renewed on disk\n";
    const auto metrics = scrape(port, "/metrics");
    EXPECT_EQ(metrics.first, 200);
    EXPECT_EQ(metric_value(metrics.second, R"(gracedb_supervisor_messages_total{outcome="uploaded"})"), 10.0)
        << metrics.second.substr(0, 3000);
    EXPECT_EQ(metric_value(metrics.second, R"(gracedb_supervisor_messages_total{outcome="dead-lettered"})"), 0.0);
    EXPECT_GE(metric_value(metrics.second, R"(gracedb_supervisor_messages_total{outcome="retrying"})"), 3.0)
        << "it blocks after 3 failed attempts (of two messages or more)";
    EXPECT_EQ(metric_value(metrics.second, "gracedb_supervisor_blocked"), 0.0);
    EXPECT_EQ(metric_value(metrics.second, "gracedb_supervisor_produce_to_upload_seconds_count"), 10.0);
    EXPECT_GT(metric_value(metrics.second, "gracedb_supervisor_last_upload_timestamp_seconds"), 1.7e9);
    EXPECT_NE(metrics.second.find("gracedb_supervisor_consumer_lag{"), std::string::npos)
        << "the lag of each owned partition";
    EXPECT_EQ(scrape(port, "/readyz").first, 200);

    ::kill(sup.pid, SIGTERM);
    EXPECT_EQ(wait_process(sup.pid, 30s), 0) << log_tail(log);
    sup.pid = -1;
    const std::string text = read_file(log);
    EXPECT_EQ(text.find(" dead-lettered ("), std::string::npos) << "nothing dead-lettered";
    EXPECT_EQ(w.standin->event_count(), 10u);
    EXPECT_EQ(w.standin->uploads(), 10u) << "each event exactly once";
}
