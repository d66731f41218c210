// Proves the test rig is real: the broker validates OAUTHBEARER tokens itself (signature, audience, issuer,
// expiry), serves TLS with the test CA's certificate, enforces ACLs, and kcat reads what we wrote.
// Uses a raw librdkafka client (tests/support/rawkafka), independent of the library under test.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <random>

#include "itest.hpp"
#include "rawkafka.hpp"
#include "testrig.hpp"

using namespace gracedb::testing;
using namespace std::chrono_literals;

namespace {

std::string unique(const std::string& stem) {
    static std::mt19937_64 rng{std::random_device{}()};
    return stem + "-" + std::to_string(now_seconds()) + "-" + std::to_string(rng() % 1000000);
}

std::map<std::string, std::string> sasl_conf(const Rig& rig, const std::string& ca) {
    return {{"bootstrap.servers", rig.sasl_bootstrap},
            {"security.protocol", "sasl_ssl"},
            {"sasl.mechanisms", "OAUTHBEARER"},
            {"ssl.ca.location", ca},
            {"socket.timeout.ms", "10000"},
            {"message.timeout.ms", "15000"},
            {"reconnect.backoff.max.ms", "1000"}};
}

}  // namespace

TEST(Rig, SaslSslRoundTripWithAFreshToken) {
    const Rig& rig = Rig::get();
    const auto topic = rig.allowed_prefix + unique("roundtrip");
    const auto value = unique("hello");
    RawClient producer{RD_KAFKA_PRODUCER, sasl_conf(rig, rig.ca_file), rig.token()};
    auto d = producer.produce_sync(topic, value, std::string{"G123"});
    ASSERT_TRUE(d.reported) << "no delivery report; client errors:\n" << producer.errors_text();
    ASSERT_EQ(d.err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(d.err) << "\n" << producer.errors_text();

    TokenSpec reader;
    reader.sub = "follower";
    auto conf = sasl_conf(rig, rig.ca_file);
    conf["group.id"] = unique("rig-reader");
    RawClient consumer{RD_KAFKA_CONSUMER, conf, rig.token(reader)};
    auto got = consumer.consume_from_beginning(topic, 1);
    ASSERT_EQ(got.size(), 1u) << consumer.errors_text();
    EXPECT_EQ(got[0].value, value);
    EXPECT_EQ(got[0].key, "G123");
}

class RefusedToken : public ::testing::Test {
protected:
    // The broker must answer with an authentication error (not let the client time out).
    void expect_refused(const std::string& token) {
        const Rig& rig = Rig::get();
        // A future lifetime for librdkafka, whatever the token says: the broker alone must judge it.
        RawClient producer{RD_KAFKA_PRODUCER, sasl_conf(rig, rig.ca_file), token, 10min};
        rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC((rig.allowed_prefix + "refused").c_str()),
                          RD_KAFKA_V_VALUE(const_cast<char*>("x"), 1), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END);
        EXPECT_TRUE(producer.wait_for_error(RD_KAFKA_RESP_ERR__AUTHENTICATION, 20s))
            << "no authentication error within 20 s; errors seen:\n"
            << producer.errors_text();
        EXPECT_NE(producer.errors_text().find("invalid_token"), std::string::npos) << producer.errors_text();
        rd_kafka_purge(producer.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    }
};

TEST_F(RefusedToken, Expired) {
    const Rig& rig = Rig::get();
    TokenSpec spec;
    spec.iat = now_seconds() - 600;
    spec.exp = now_seconds() - 60;  // past the broker's 2 s of clock skew
    expect_refused(rig.token(spec));
}

TEST_F(RefusedToken, ForAnotherAudience) {
    TokenSpec spec;
    spec.aud = {"https://kafka.elsewhere.example"};
    expect_refused(Rig::get().token(spec));
}

TEST_F(RefusedToken, FromAnotherIssuer) {
    TokenSpec spec;
    spec.iss = "https://issuer.elsewhere.example";
    expect_refused(Rig::get().token(spec));
}

TEST_F(RefusedToken, SignedByAnotherKey) {
    const Rig& rig = Rig::get();
    TokenSpec spec;
    spec.iss = rig.issuer;
    spec.aud = {rig.audience};
    spec.iat = now_seconds() - 60;
    spec.exp = now_seconds() + 600;
    spec.kid = rig.kid;  // claims to be the trusted key
    expect_refused(mint_token(read_file(rig.other_key_file), spec));
}

TEST_F(RefusedToken, NotSignedAtAll) {
    expect_refused("eyJhbGciOiJub25lIn0.eyJzdWIiOiJwaXBlbGluZSJ9.");
}

TEST(Rig, TlsWithTheWrongCaFails) {
    const Rig& rig = Rig::get();
    RawClient producer{RD_KAFKA_PRODUCER, sasl_conf(rig, rig.other_ca_file), rig.token()};
    rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC((rig.allowed_prefix + "tls").c_str()),
                      RD_KAFKA_V_VALUE(const_cast<char*>("x"), 1), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_END);
    EXPECT_TRUE(producer.wait_for_error(RD_KAFKA_RESP_ERR__SSL, 20s)) << producer.errors_text();
    EXPECT_NE(producer.errors_text().find("certificate verify failed"), std::string::npos) << producer.errors_text();
    rd_kafka_purge(producer.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
}

TEST(Rig, APrincipalIsRefusedATopicItsAclsDoNotAllow) {
    const Rig& rig = Rig::get();
    RawClient producer{RD_KAFKA_PRODUCER, sasl_conf(rig, rig.ca_file), rig.token()};
    // Control: the same client may write to an allowed topic.
    auto ok = producer.produce_sync(rig.allowed_prefix + unique("acl-control"), "fine");
    ASSERT_TRUE(ok.reported) << producer.errors_text();
    ASSERT_EQ(ok.err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(ok.err);
    auto refused = producer.produce_sync(rig.denied_topic, "not allowed");
    ASSERT_TRUE(refused.reported) << producer.errors_text();
    EXPECT_EQ(refused.err, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) << rd_kafka_err2str(refused.err);
}

TEST(Rig, AnUnknownPrincipalIsRefusedEvenAnAllowedPrefix) {
    const Rig& rig = Rig::get();
    TokenSpec spec;
    spec.sub = "mallory";
    RawClient producer{RD_KAFKA_PRODUCER, sasl_conf(rig, rig.ca_file), rig.token(spec)};
    auto refused = producer.produce_sync(rig.allowed_prefix + unique("acl-mallory"), "not allowed");
    ASSERT_TRUE(refused.reported) << producer.errors_text();
    EXPECT_EQ(refused.err, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) << rd_kafka_err2str(refused.err);
}

TEST(Rig, KcatOnThePlaintextListenerReadsWhatWeWrote) {
    const Rig& rig = Rig::get();
    const auto topic = rig.allowed_prefix + unique("kcat");
    const auto value = unique("{\"graceid\":\"G42\"}");
    RawClient producer{RD_KAFKA_PRODUCER, sasl_conf(rig, rig.ca_file), rig.token()};
    auto d = producer.produce_sync(topic, value, std::string{"G42"}, {{"origin", "rig-test"}});
    ASSERT_TRUE(d.reported) << producer.errors_text();
    ASSERT_EQ(d.err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(d.err);

    const char* kcat = std::getenv("KCAT");
    const auto out = run_command(std::string{kcat ? kcat : "kcat"} + " -C -b " + rig.plain_bootstrap + " -t " + topic +
                         " -o beginning -c 1 -e -q -f 'key=%k|value=%s|headers=%h\\n'");
    EXPECT_EQ(out, "key=G42|value=" + value + "|headers=origin=rig-test\n");
}
