// The gracedb-kafka tool against the real broker, as a user runs it: processes, pipes and signals.
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <sstream>
#include <thread>

#include "itest.hpp"

using namespace gracedb::testing;
using namespace std::chrono_literals;

namespace {
std::string tool_args(const std::string& sub) {
    const Rig& rig = Rig::get();
    return std::string{GRACEDB_KAFKA_TOOL} + " " + sub + " -b " + rig.sasl_bootstrap + " --ca-cert " + rig.ca_file +
           " --instance rig";
}
}  // namespace

TEST(Cli, PingPrintsWhereItLandedAndTheTokensClaims) {
    TokenEnv env;
    env.write_token();
    const auto out = run_command(tool_args("ping") + " 2>&1");
    EXPECT_NE(out.find("ping delivered to rig.test partition 0 offset"), std::string::npos) << out;
    EXPECT_NE(out.find("token: sub pipeline"), std::string::npos) << out;
}

TEST(Cli, ProduceFromStandardInputThenListenAsJsonLines) {
    TokenEnv env;
    env.write_token();
    const auto pipeline = unique_name("cli");
    run_command("printf '{\"graceid\":\"G7\"}' | " + tool_args("produce") + " -t " + pipeline + " -k G7 -H origin=cli");
    run_command("echo plain text | " + tool_args("produce") + " -t " + pipeline);
    const auto out = run_command(tool_args("listen") + " -t " + pipeline + " --from-beginning --count 2");
    std::istringstream lines{out};
    std::string first, second;
    std::getline(lines, first);
    std::getline(lines, second);
    auto a = nlohmann::json::parse(first), b = nlohmann::json::parse(second);
    EXPECT_EQ(a["topic"], "rig." + pipeline);
    EXPECT_EQ(a["key"], "G7");
    EXPECT_EQ(a["value"]["graceid"], "G7") << "JSON values are embedded as JSON";
    EXPECT_EQ(a["headers"]["origin"], "cli");
    EXPECT_EQ(b["value"], "plain text\n") << "other values as strings";
}

TEST(Cli, ListenEndsCleanlyOnCtrlC) {
    TokenEnv env;
    env.write_token();
    const Rig& rig = Rig::get();
    const auto log = (env.dir() / "listen.log").string();
    auto child = spawn_process({GRACEDB_KAFKA_TOOL, "listen", "-b", rig.sasl_bootstrap, "--ca-cert", rig.ca_file,
                                "--instance", "rig", "-t", unique_name("quiet")},
                               {}, log);
    std::this_thread::sleep_for(3s);
    const auto sent = std::chrono::steady_clock::now();
    ::kill(child.pid, SIGINT);
    EXPECT_EQ(wait_process(child.pid, 10s), 0) << read_file(log);
    EXPECT_LT(std::chrono::steady_clock::now() - sent, 5s);
}

TEST(Cli, CreateEventOverKafkaPrintsTheGraceidAndTimings) {
    TokenEnv env;
    TokenSpec spec;
    spec.aud = {Rig::get().audience, "https://localhost"};
    env.write_token(spec);
    const Rig& rig = Rig::get();
    gracedb::StandIn standin{{.jwks = read_file(rig.dir + "/issuer/jwks.json"), .issuer = rig.issuer}};
    const auto file = env.dir() / "coinc.xml";
    write_secret_file(file, "<LIGO_LW/>");
    const auto out = run_command(std::string{GRACEDB_KAFKA_TOOL} + " create-event CBC gstlal " + file.string() +
                                 " --search AllSky --label EM_READY -b " + rig.sasl_bootstrap + " --ca-cert " +
                                 rig.ca_file + " --service-url " + standin.service_url() + " 2>&1");
    EXPECT_NE(out.find("graceid: G"), std::string::npos) << out;
    EXPECT_NE(out.find("published to localhost.gstlal"), std::string::npos) << out;
    EXPECT_NE(out.find("reserve:"), std::string::npos) << out;
    EXPECT_NE(out.find("acknowledge:"), std::string::npos) << out;
    const auto http = run_command(std::string{GRACEDB_KAFKA_TOOL} + " create-event Test gstlal " + file.string() +
                                  " --transport http --service-url " + standin.service_url() + " 2>&1");
    EXPECT_NE(http.find("graceid: T"), std::string::npos) << http;
    EXPECT_EQ(standin.event_count(), 1u);
}
