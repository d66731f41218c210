// Secret hygiene (issue 12): every component at its most verbose — librdkafka's debug=all and the library's
// debug log — through every path that touches a token: discovery, ping, refresh, the consumer, the REST
// client, the broker refusing a token (another audience, an untrusted signer), an expired token, and the
// tool's `token` and `ping`. The token's text, its payload and its signature appear nowhere: not in any log
// line, not in any exception text, not in the tool's output.
#include <gracedb/kafka.hpp>
#include <gracedb/log.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "itest.hpp"
#include "log_capture.hpp"
#include "token_secrecy.hpp"

using namespace gracedb;
using namespace gracedb::kafka;
using namespace gracedb::testing;
using namespace std::chrono_literals;

namespace {

const std::map<std::string, std::string> debug_all = {{"debug", "all"}, {"message.timeout.ms", "15000"},
                                                       {"reconnect.backoff.max.ms", "1000"}};

ProducerOptions verbose_producer(std::chrono::milliseconds reload_buffer = 300s) {
    const Rig& rig = Rig::get();
    return {.bootstrap_servers = rig.sasl_bootstrap, .instance_name = "rig", .ca_cert_path = rig.ca_file,
            .reload_buffer = reload_buffer, .flush_timeout = 5s, .kafka_config = debug_all};
}

}  // namespace

TEST(SecretHygiene, DiscoveryPingRefreshAndTheConsumerAtDebugAll) {
    LogCapture log;
    TokenEnv env;
    const auto first = env.write_token({}, 12s);  // re-read at 80% of its life (the buffer is longer)
    std::string second;
    {
        Producer p{verbose_producer()};
        const auto pipeline = unique_name("hygiene");
        const auto r = p.ping(pipeline, 20s);
        EXPECT_GE(r.offset, 0);
        second = env.write_token();
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (p.token_refresh_count() == 0 && std::chrono::steady_clock::now() < deadline) p.poll(100ms);
        ASSERT_GE(p.token_refresh_count(), 1u) << "the producer never re-read the token";
        const auto again = p.ping(pipeline, 20s);  // on the renewed token (the first has expired by now)
        EXPECT_GT(again.offset, r.offset);

        Consumer c{{.bootstrap_servers = Rig::get().sasl_bootstrap, .topics = {pipeline}, .instance_name = "rig",
                    .ca_cert_path = Rig::get().ca_file, .auto_offset_reset = "earliest", .kafka_config = {{"debug", "all"}}}};
        std::size_t n = 0;
        for (const auto& m : c.stream(10s, 2)) {
            (void)m;
            ++n;
        }
        EXPECT_EQ(n, 2u);
    }
    const auto text = log.text();
    EXPECT_GT(text.size(), 10000u) << "debug=all should have said a lot; was the log captured?";
    EXPECT_NE(text.find("fingerprint"), std::string::npos) << "the token is named by its fingerprint";
    expect_no_token(text, first, "the log");
    expect_no_token(text, second, "the log");
}

TEST(SecretHygiene, RefusedAndExpiredTokensInErrorsAndLogs) {
    const Rig& rig = Rig::get();
    LogCapture log;
    TokenEnv env;
    std::vector<std::string> tokens;

    TokenSpec other_audience;
    other_audience.aud = {"https://kafka.elsewhere.example"};  // the fallback token; the broker refuses it
    tokens.push_back(env.write_token(other_audience));
    try {
        Producer p{verbose_producer()};
        p.ping(unique_name("hygiene-aud"), 10s);
        ADD_FAILURE() << "the broker accepted a token for another audience";
    } catch (const std::exception& e) {
        log.add(std::string{"exception: "} + e.what());
    }

    TokenSpec untrusted;  // signed by a key the broker does not trust
    untrusted.iss = rig.issuer;
    untrusted.aud = {rig.audience};
    untrusted.kid = rig.kid;
    untrusted.iat = now_seconds();
    untrusted.exp = now_seconds() + 600;
    tokens.push_back(mint_token(read_file(rig.other_key_file), untrusted));
    write_secret_file(env.token_file(), tokens.back());
    try {
        Producer p{verbose_producer()};
        p.ping(unique_name("hygiene-key"), 10s);
        ADD_FAILURE() << "the broker accepted a token signed by an untrusted key";
    } catch (const std::exception& e) {
        log.add(std::string{"exception: "} + e.what());
    }

    TokenSpec expired;
    expired.iat = now_seconds() - 600;
    expired.exp = now_seconds() - 5;
    tokens.push_back(env.write_token(expired));
    try {
        Producer p{verbose_producer()};
        ADD_FAILURE() << "a producer was made with an expired token";
    } catch (const std::exception& e) {
        log.add(std::string{"exception: "} + e.what());
    }

    // The REST client against the stand-in: a good token, then one it refuses.
    StandIn standin{{.jwks = read_file(rig.dir + "/issuer/jwks.json"), .audience = "https://localhost",
                     .issuer = rig.issuer}};
    TokenSpec rest;
    rest.aud = {"https://localhost"};
    tokens.push_back(env.write_token(rest));
    try {
        GraceDb client{standin.service_url()};
        EXPECT_TRUE(client.api_root().contains("links"));
    } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
    }
    TokenSpec rest_refused = rest;
    rest_refused.scope = "kafka.produce";  // no gracedb.read: anonymous to the stand-in, as to the real server
    tokens.push_back(env.write_token(rest_refused));
    try {
        GraceDb client{standin.service_url()};
        client.reserve_graceid("CBC", "gstlal", "AllSky");  // a write: 403 for an anonymous caller
        ADD_FAILURE() << "the stand-in accepted a write with a token without gracedb.read";
    } catch (const std::exception& e) {
        log.add(std::string{"exception: "} + e.what());
    }

    const auto text = log.text();
    EXPECT_NE(text.find("exception: "), std::string::npos);
    for (const auto& t : tokens) expect_no_token(text, t, "the log or an exception");
}

TEST(SecretHygiene, TheToolsTokenAndPingCommandsAtDebugAll) {
    const Rig& rig = Rig::get();
    TokenEnv env;
    const auto token = env.write_token();
    const std::string tool = GRACEDB_KAFKA_TOOL;
    const std::string common = " -b " + rig.sasl_bootstrap + " --ca-cert " + rig.ca_file + " --instance rig";
    const auto out_token = run_command(tool + " --log-level debug token -b " + rig.sasl_bootstrap + " 2>&1");
    EXPECT_NE(out_token.find("sub"), std::string::npos) << out_token;
    const auto out_ping = run_command(tool + " --log-level debug ping" + common + " -X debug=all 2>&1");
    EXPECT_NE(out_ping.find("ping delivered"), std::string::npos) << out_ping;
    EXPECT_GT(out_ping.size(), 10000u) << "debug=all should have said a lot";
    expect_no_token(out_token, token, "`gracedb-kafka token`");
    expect_no_token(out_ping, token, "`gracedb-kafka ping -X debug=all`");

    TokenSpec other_audience;  // and an error path of the tool
    other_audience.aud = {"https://kafka.elsewhere.example"};
    const auto refused = env.write_token(other_audience);
    const auto out_refused = run_command(tool + " --log-level debug ping" + common +
                                         " --timeout 10 -X debug=all 2>&1; true");
    expect_no_token(out_refused, refused, "`gracedb-kafka ping` refused");
}
