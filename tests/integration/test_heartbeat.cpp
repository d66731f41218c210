// The supervisor's heartbeat on the real broker: gracedb-heartbeat.<instance> gets a message every interval,
// of the documented shape (docs/replay-and-heartbeat.md), with this supervisor's identity and figures.
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/supervisor.hpp>
#include <gracedb/version.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include "itest.hpp"
#include "supervisor_world.hpp"

using namespace gracedb;
using namespace gracedb::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(SupervisorHeartbeat, TheHeartbeatTopicGetsMessagesOfTheRightShape) {
    SupervisorWorld w{"hbpipe", std::chrono::minutes{10}, &create_topic};
    const Rig& rig = Rig::get();
    TokenEnv sup_env;  // the supervisor's credentials, read when it is built
    write_secret_file(sup_env.token_file(), read_file(w.supervisor_token_file));
    Supervisor s{{.consumer = {.bootstrap_servers = rig.sasl_bootstrap,
                               .service_url = w.standin->service_url(),
                               .group_id = "sup-hb-" + w.instance,
                               .ca_cert_path = rig.ca_file},
                  .service_url = w.standin->service_url(),
                  .heartbeat_interval = 300ms,
                  .handle_signals = false}};
    TokenEnv pipe_env;
    TokenSpec spec;
    spec.aud = {rig.audience, "https://" + w.instance + ".localhost"};
    pipe_env.write_token(spec);
    {
        GraceDb client{w.standin->service_url()};
        kafka::Producer p{{.bootstrap_servers = rig.sasl_bootstrap, .service_url = w.standin->service_url(),
                           .ca_cert_path = rig.ca_file}};
        for (int i = 0; i < 3; ++i)
            client.create_event("CBC", w.pipeline, "e.xml", {.filecontents = "event " + std::to_string(i), .kafka = &p});
    }
    auto deadline = Clock::now() + 60s;
    while (s.stats().uploaded < 3 && Clock::now() < deadline) s.step();
    ASSERT_EQ(s.stats().uploaded, 3u);

    // A reader of the heartbeat topic, as `gracedb-kafka listen --heartbeat` is: instance "gracedb-heartbeat",
    // pipeline <instance>. The supervisor keeps stepping (on this thread) between its polls.
    kafka::Consumer reader{{.bootstrap_servers = rig.sasl_bootstrap,
                            .topics = {w.instance},
                            .instance_name = "gracedb-heartbeat",
                            .ca_cert_path = rig.ca_file,
                            .auto_offset_reset = "earliest"}};
    std::vector<kafka::Message> beats;
    deadline = Clock::now() + 60s;
    while (Clock::now() < deadline) {
        s.step();
        if (auto m = reader.poll(50ms)) {
            if (!beats.empty() && m->json()["counters"]["uploaded"] == 3) {
                beats.push_back(std::move(*m));
                break;
            }
            beats.push_back(std::move(*m));
        }
    }
    ASSERT_GE(beats.size(), 2u) << "heartbeats keep coming";
    EXPECT_EQ(beats.back().topic, "gracedb-heartbeat." + w.instance) << "outside the instance's prefix";
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    EXPECT_EQ(beats.back().key, std::string{host} + ":" + std::to_string(::getpid()));
    const auto h = beats.back().json();
    EXPECT_EQ(h["type"], "heartbeat");
    EXPECT_EQ(h["instance"], w.instance);
    EXPECT_EQ(h["group"], "sup-hb-" + w.instance);
    EXPECT_EQ(h["host"], host);
    EXPECT_EQ(h["pid"], ::getpid());
    EXPECT_EQ(h["version"], gracedb::version);
    EXPECT_DOUBLE_EQ(h["interval_s"].get<double>(), 0.3);
    EXPECT_GT(h["uptime_s"].get<double>(), 0.0);
    EXPECT_EQ(h["counters"]["uploaded"], 3);
    EXPECT_EQ(h["delay_ms"]["events"], 3);
    EXPECT_TRUE(h["delay_ms"]["p50"].is_number()) << h.dump();
    EXPECT_TRUE(h["delay_ms"]["p99"].is_number()) << h.dump();
    EXPECT_TRUE(h["last_upload"].is_number());
    EXPECT_EQ(h["blocked"], false);
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    EXPECT_LT(std::abs(now - h["time"].get<double>()), 120.0) << "stamped with the current time";
    const auto first = beats.front().json();
    EXPECT_LT(first["time"].get<double>(), h["time"].get<double>());
}
