// The gracedb-kafka tool against the real broker, as a user runs it: processes, pipes and signals.
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>

#include "itest.hpp"
#include "local_server.hpp"
#include "token_secrecy.hpp"

using namespace gracedb::testing;
using namespace std::chrono_literals;

namespace {
struct Outcome {
    int status = -1;
    std::string output;  // standard output and error
};

// Runs a shell command; its exit status and everything it printed.
Outcome run(const std::string& command) {
    Outcome o;
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (!p) throw std::runtime_error("popen failed");
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) o.output.append(buf, n);
    const int st = ::pclose(p);
    o.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return o;
}

// The GraceDB stand-in over HTTPS with the rig's certificate for localhost, checking the rig issuer's tokens.
std::unique_ptr<gracedb::StandIn> tls_standin() {
    const Rig& rig = Rig::get();
    return std::make_unique<gracedb::StandIn>(gracedb::StandInOptions{
        .jwks = read_file(rig.dir + "/issuer/jwks.json"),
        .issuer = rig.issuer,
        .tls_cert_file = rig.dir + "/tls/server.pem",
        .tls_key_file = rig.dir + "/tls/server.key"});
}

// A rig token for Kafka and for the HTTPS stand-in.
TokenSpec both_audiences() {
    TokenSpec spec;
    spec.aud = {Rig::get().audience, "https://localhost"};
    return spec;
}

std::string check_command(const std::string& service_url, const std::string& ca, const std::string& extra = {}) {
    const Rig& rig = Rig::get();
    return std::string{GRACEDB_KAFKA_TOOL} + " check -b " + rig.sasl_bootstrap + " --ca-cert " + ca +
           " --service-url " + service_url + " --gracedb-ca-cert " + rig.ca_file + " --timeout 20 " + extra;
}

// The line of step `name`, e.g. " 3. tls           FAIL ..." (empty if absent).
std::string step_line(const std::string& output, const std::string& name) {
    std::istringstream in{output};
    for (std::string line; std::getline(in, line);)
        if (std::regex_search(line, std::regex{"^ ?[0-9]+\\. " + name + " "})) return line;
    return {};
}

// The rig's certificate and key for localhost.
std::optional<std::pair<std::string, std::string>> rig_tls() {
    return std::pair{Rig::get().dir + "/tls/server.pem", Rig::get().dir + "/tls/server.key"};
}

// An API root (over `root_tls` or plain http) whose "reservations" link points at another HTTPS origin that
// records whether an Authorization header reached it.
struct RootLinkingElsewhere {
    std::atomic<int> requests{0}, with_authorization{0};
    std::string elsewhere_url, service_url;
    // The servers stop first (declared last): no handler outlives the counters.
    LocalServer elsewhere{rig_tls()};
    LocalServer root;

    explicit RootLinkingElsewhere(bool root_tls) : root{root_tls ? rig_tls() : std::nullopt} {
        elsewhere.routes().Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
            ++requests;
            if (req.has_header("Authorization")) ++with_authorization;
            res.status = 400;  // what GraceDB answers an empty form once it accepted the credentials
            res.set_content(R"({"error": "no group"})", "application/json");
        });
        elsewhere_url = elsewhere.start();
        const nlohmann::json body = {{"links", {{"reservations", elsewhere_url + "/api/reservations/"},
                                                {"events", elsewhere_url + "/api/events/"}}},
                                     {"templates", nlohmann::json::object()}};
        root.routes().Get("/api/", [body](const httplib::Request&, httplib::Response& res) {
            res.set_content(body.dump(), "application/json");
        });
        service_url = root.start() + "/api/";
    }
};

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
    EXPECT_EQ(a["headers"], nlohmann::json::parse(R"([["origin", "cli"]])")) << "headers: [name, value] pairs";
    EXPECT_EQ(a["value_encoding"], "json");
    EXPECT_EQ(b["value_encoding"], "text");
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
    EXPECT_NE(out.find("publish:"), std::string::npos) << out;
    const auto http = run_command(std::string{GRACEDB_KAFKA_TOOL} + " create-event Test gstlal " + file.string() +
                                  " --transport http --service-url " + standin.service_url() + " 2>&1");
    EXPECT_NE(http.find("graceid: T"), std::string::npos) << http;
    EXPECT_EQ(standin.event_count(), 1u);
}

// --- gracedb-kafka check against the rig --------------------------------------------------------------------

TEST(CliCheck, EveryStepPassesOnTheRig) {
    TokenEnv env;
    const auto token = env.write_token(both_audiences());
    auto standin = tls_standin();
    const auto o = run(check_command(standin->service_url(), Rig::get().ca_file, "--instance rig"));
    EXPECT_EQ(o.status, 0) << o.output;
    EXPECT_NE(o.output.find("all 8 steps passed"), std::string::npos) << o.output;
    for (const char* step : {"kafka-token", "broker", "tls", "sasl", "topic", "gracedb-api", "gracedb-token"})
        EXPECT_NE(step_line(o.output, step).find(" ok "), std::string::npos) << step << "\n" << o.output;
    EXPECT_NE(step_line(o.output, "kafka-token").find("sub \"pipeline\""), std::string::npos) << o.output;
    EXPECT_NE(step_line(o.output, "kafka-token").find("expires in"), std::string::npos) << o.output;
    EXPECT_NE(step_line(o.output, "topic").find("ping delivered to rig.test"), std::string::npos) << o.output;
    expect_no_token(o.output, token, "the output of check");
    EXPECT_EQ(standin->event_count(), 0u) << "check creates no event";
}

TEST(CliCheck, AWrongCaFailsAtTls) {
    TokenEnv env;
    env.write_token(both_audiences());
    auto standin = tls_standin();
    const auto o = run(check_command(standin->service_url(), Rig::get().other_ca_file, "--instance rig"));
    EXPECT_EQ(o.status, 1) << o.output;
    EXPECT_NE(step_line(o.output, "broker").find(" ok "), std::string::npos) << o.output;
    const auto tls = step_line(o.output, "tls");
    EXPECT_NE(tls.find("FAIL"), std::string::npos) << o.output;
    EXPECT_NE(tls.find("certificate verify failed"), std::string::npos) << o.output;
    EXPECT_NE(o.output.find("what to do: the broker's certificate is not signed by a CA in"), std::string::npos) << o.output;
    EXPECT_NE(step_line(o.output, "topic").find("skip"), std::string::npos) << o.output;
    EXPECT_NE(o.output.find("gracedb-kafka check: failed at step 3 (tls)"), std::string::npos) << o.output;
}

TEST(CliCheck, AnExpiredTokenFailsAtTheToken) {
    TokenEnv env;
    auto spec = both_audiences();
    spec.iat = now_seconds() - 900;
    spec.exp = now_seconds() - 120;  // past the broker's 30 s of clock skew
    env.write_token(spec);
    auto standin = tls_standin();
    const auto o = run(check_command(standin->service_url(), Rig::get().ca_file, "--instance rig"));
    EXPECT_EQ(o.status, 1) << o.output;
    const auto token = step_line(o.output, "kafka-token");
    EXPECT_NE(token.find("FAIL"), std::string::npos) << o.output;
    EXPECT_NE(token.find("expired"), std::string::npos) << o.output;
    EXPECT_NE(o.output.find("an expired token must be renewed"), std::string::npos) << o.output;
    EXPECT_NE(step_line(o.output, "tls").find(" ok "), std::string::npos) << "TLS does not need the token\n" << o.output;
    EXPECT_NE(o.output.find("gracedb-kafka check: failed at step 1 (kafka-token)"), std::string::npos) << o.output;
}

TEST(CliCheck, AForbiddenTopicFailsAtTheTopic) {
    TokenEnv env;
    env.write_token(both_audiences());
    auto standin = tls_standin();
    const std::string denied = Rig::get().denied_topic;  // "<instance>.<pipeline>"
    const auto dot = denied.find('.');
    const auto o = run(check_command(standin->service_url(), Rig::get().ca_file,
                                     "--instance " + denied.substr(0, dot) + " -t " + denied.substr(dot + 1)));
    EXPECT_EQ(o.status, 1) << o.output;
    EXPECT_NE(step_line(o.output, "sasl").find(" ok "), std::string::npos) << o.output;
    const auto topic = step_line(o.output, "topic");
    EXPECT_NE(topic.find("FAIL"), std::string::npos) << o.output;
    EXPECT_NE(topic.find("refused the topic " + denied), std::string::npos) << o.output;
    EXPECT_NE(o.output.find("what to do: this principal may not write " + denied), std::string::npos) << o.output;
    EXPECT_NE(step_line(o.output, "gracedb-token").find(" ok "), std::string::npos) << o.output;
}

TEST(CliCheck, GraceDbDownFailsAtTheApiRoot) {
    TokenEnv env;
    env.write_token(both_audiences());
    std::string url;
    {
        auto standin = tls_standin();
        url = standin->service_url();
    }  // stopped: nothing listens on its port now
    const auto o = run(check_command(url, Rig::get().ca_file, "--instance rig"));
    EXPECT_EQ(o.status, 1) << o.output;
    EXPECT_NE(step_line(o.output, "topic").find(" ok "), std::string::npos) << o.output;
    const auto api = step_line(o.output, "gracedb-api");
    EXPECT_NE(api.find("FAIL"), std::string::npos) << o.output;
    EXPECT_NE(o.output.find("whether GraceDB is up"), std::string::npos) << o.output;
    EXPECT_NE(step_line(o.output, "gracedb-token").find("skip"), std::string::npos) << o.output;
}

// The token goes only to the service's own origin (the library's rule): a root whose links name another
// origin used to get it sent there (over http://, the root's own scheme did not matter), and check passed.
TEST(CliCheck, ARootLinkingToAnotherOriginGetsNoTokenSentThere) {
    TokenEnv env;
    const auto token = env.write_token(both_audiences());
    for (const bool root_tls : {false, true}) {
        SCOPED_TRACE(root_tls ? "root over https" : "root over http");
        RootLinkingElsewhere servers{root_tls};
        const auto o = run(check_command(servers.service_url, Rig::get().ca_file, "--instance rig"));
        EXPECT_EQ(servers.with_authorization.load(), 0) << "the token reached " << servers.elsewhere_url;
        EXPECT_EQ(servers.requests.load(), 0) << "check sent something to " << servers.elsewhere_url;
        EXPECT_EQ(o.status, 1) << o.output;
        EXPECT_NE(step_line(o.output, "gracedb-api").find(" ok "), std::string::npos) << o.output;
        const auto step = step_line(o.output, "gracedb-token");
        EXPECT_NE(step.find("FAIL"), std::string::npos) << o.output;
        EXPECT_NE(step.find("not sent"), std::string::npos) << o.output;
        EXPECT_NE(step.find("another origin, " + servers.elsewhere_url), std::string::npos)
            << "names the origin refused\n" << o.output;
        EXPECT_NE(o.output.find("gracedb-kafka check: failed at step 7 (gracedb-token)"), std::string::npos)
            << o.output;
        EXPECT_EQ(o.output.find(token), std::string::npos) << "the token was printed";
    }
}

// create-event used to say only "no delivery report within ... 10000 ms" for a wrong CA, after 20 s.
TEST(Cli, CreateEventWithAWrongCaSaysWhyWithinItsTimeout) {
    TokenEnv env;
    env.write_token(both_audiences());
    const Rig& rig = Rig::get();
    auto standin = tls_standin();
    const auto file = env.dir() / "coinc.xml";
    write_secret_file(file, "<LIGO_LW/>");
    const auto t0 = std::chrono::steady_clock::now();
    const auto o = run(std::string{GRACEDB_KAFKA_TOOL} + " create-event CBC gstlal " + file.string() + " -b " +
                       rig.sasl_bootstrap + " --ca-cert " + rig.other_ca_file + " --service-url " +
                       standin->service_url() + " --gracedb-ca-cert " + rig.ca_file + " --timeout 5");
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(o.status, 1) << o.output;
    const auto last = o.output.substr(o.output.rfind('\n', o.output.size() - 2) + 1);
    EXPECT_NE(last.find("gracedb-kafka create-event: "), std::string::npos) << o.output;
    EXPECT_NE(last.find("certificate verify failed"), std::string::npos) << "the cause, on the last line\n" << o.output;
    EXPECT_LT(took, std::chrono::seconds{15}) << "a 5 s timeout, waited once";
}
