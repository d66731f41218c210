// create_event over HTTP and over Kafka against the GraceDB stand-in (HTTP on loopback, bearer tokens
// verified against the rig's JWKS) and the real broker.
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>
#include <fstream>

#include "itest.hpp"
#include "rawkafka.hpp"

using namespace gracedb;
using namespace gracedb::kafka;
using namespace gracedb::testing;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kEventFiles = {"cbc-mbta.xml", "cbc-lm.xml", "burst-cwb.txt", "coinc.xml", "psd.xml.gz",
                                              "first2years-gstlal-many-events.xml.gz"};

StandInOptions standin_options() {
    const Rig& rig = Rig::get();
    return {.jwks = read_file(rig.dir + "/issuer/jwks.json"),
            .audience = "https://localhost",
            .issuer = rig.issuer,
            .service_principals = {"supervisor"}};
}

// A token good for both: Kafka (aud 127.0.0.1, kafka.produce) and the stand-in (aud https://localhost).
std::string write_dual_token(TokenEnv& env, const std::string& sub = "pipeline") {
    TokenSpec spec;
    spec.sub = sub;
    spec.aud = {Rig::get().audience, "https://localhost"};
    return env.write_token(spec);
}

ProducerOptions producer_options(std::chrono::milliseconds flush_timeout = 15s) {
    const Rig& rig = Rig::get();
    return {.bootstrap_servers = rig.sasl_bootstrap, .ca_cert_path = rig.ca_file, .flush_timeout = flush_timeout,
            .kafka_config = {{"message.timeout.ms", "10000"}}};
}

std::string event_bytes(const std::string& name) {
    const auto dir = shared_data_dir();
    if (dir.empty()) return "<?xml version='1.0'?><LIGO_LW><!-- generated stand-in for " + name + " --></LIGO_LW>\n";
    return read_file(dir / "events" / name);
}

// The message at topic/partition/offset, read back with an independent client.
RawMessage read_message(const std::string& topic, std::int32_t partition, std::int64_t offset) {
    const Rig& rig = Rig::get();
    RawClient c{RD_KAFKA_CONSUMER, {{"bootstrap.servers", rig.plain_bootstrap}, {"group.id", unique_name("read")}}};
    for (auto& m : c.consume_from_beginning(topic, static_cast<std::size_t>(offset + 1), 30s, partition))
        if (m.offset == offset) return m;
    throw std::runtime_error("message not found at " + topic + "@" + std::to_string(offset));
}

std::string base64_decode(const std::string& text) {
    return run_command("printf '%s' '" + text + "' | base64 -d");
}

}  // namespace

TEST(CreateEvent, OverHttpEachRealFileComesBackByteExact) {
    TokenEnv env;
    write_dual_token(env);
    StandIn standin{standin_options()};
    GraceDb client{standin.service_url()};
    EXPECT_EQ(client.token_claims()->sub, "pipeline");
    const auto dir = shared_data_dir();
    for (const auto& name : kEventFiles) {
        const auto path = dir.empty() ? std::filesystem::path{} : dir / "events" / name;
        CreateEventOptions o{.search = "AllSky", .labels = {"EM_READY", "PE_READY"}};
        if (dir.empty()) o.filecontents = event_bytes(name);
        auto r = client.create_event("CBC", "gstlal", dir.empty() ? name : path.string(), o);
        EXPECT_EQ(r.status, 201);
        const auto ev = r.json();
        const std::string id = ev["graceid"];
        EXPECT_EQ(id[0], 'G');
        EXPECT_EQ(ev["submitter"], "pipeline");
        EXPECT_EQ(ev["labels"], (nlohmann::json{"EM_READY", "PE_READY"}));
        EXPECT_EQ(standin.event_file(id), event_bytes(name)) << name;
        auto back = client.get(ev["links"]["event_file"].get<std::string>());
        EXPECT_EQ(back.body, event_bytes(name)) << name << " fetched over HTTP";
        EXPECT_EQ(client.event(id).json()["graceid"], id);
    }
    EXPECT_EQ(standin.alerts().size(), kEventFiles.size()) << "one \"new\" alert per created event";
}

TEST(CreateEvent, OverKafkaTheMessageIsWhatTheApiSays) {
    TokenEnv env;
    write_dual_token(env);
    StandIn standin{standin_options()};
    GraceDb client{standin.service_url(), {.api_version = "v2"}};
    auto producer = client.create_kafka_producer(producer_options());
    EXPECT_EQ(producer.instance_name(), "localhost");
    const auto bytes = event_bytes("coinc.xml");
    auto r = client.create_event("CBC", "gstlal", "coinc.xml",
                                 {.search = "AllSky", .filecontents = bytes, .labels = {"EM_READY"}, .kafka = &producer});
    EXPECT_EQ(r.status, 202);
    const auto body = r.json();
    const std::string id = body["graceid"];
    EXPECT_EQ(id[0], 'G');
    EXPECT_EQ(body["topic"], "localhost.gstlal");
    ASSERT_TRUE(r.timing("reserve"));
    ASSERT_TRUE(r.timing("produce"));
    ASSERT_TRUE(r.timing("acknowledge"));
    EXPECT_EQ(standin.event_count(), 0u) << "reserved, not uploaded: that is the supervisor's job";
    EXPECT_TRUE(standin.alerts().empty()) << "no alert for a reservation";

    const auto m = read_message(body["topic"], body["partition"], body["offset"]);
    EXPECT_EQ(m.key, id);
    const auto msg = nlohmann::json::parse(m.value);
    EXPECT_EQ(msg["type"], "event");
    EXPECT_EQ(msg["graceid"], id);
    EXPECT_EQ(msg["pipeline"], "gstlal");
    EXPECT_EQ(msg["group"], "CBC");
    EXPECT_EQ(msg["search"], "AllSky");
    EXPECT_EQ(msg["submitter"], "pipeline");
    EXPECT_EQ(msg["offline"], false);
    EXPECT_EQ(msg["labels"], (nlohmann::json{"EM_READY"}));
    EXPECT_EQ(msg["gracedb_upload"], true);
    EXPECT_EQ(msg["skip_supervisor"], false);
    EXPECT_TRUE(msg["_producer_timestamp"].is_number_float());
    ASSERT_EQ(msg["eventFile"].size(), 2u);
    EXPECT_EQ(msg["eventFile"][0], "coinc.xml");
    EXPECT_EQ(base64_decode(msg["eventFile"][1]), bytes);

    // The upload the supervisor would do completes the reservation with the same graceid.
    auto up = client.upload_reserved_event(id, "CBC", "gstlal", "coinc.xml", {.search = "AllSky", .filecontents = bytes});
    EXPECT_EQ(up.status, 201);
    EXPECT_EQ(standin.event_file(id), bytes);
    EXPECT_EQ(client.upload_reserved_event(id, "CBC", "gstlal", "coinc.xml", {.filecontents = bytes}).status, 409)
        << "a second upload is reported as already done, not raised";
}

TEST(CreateEvent, TestGroupGoesToTheTestTopic) {
    TokenEnv env;
    write_dual_token(env);
    StandIn standin{standin_options()};
    GraceDb client{standin.service_url()};
    auto producer = client.create_kafka_producer(producer_options());
    auto r = client.create_event("Test", "MBTA", "cbc-mbta.xml",
                                 {.filecontents = event_bytes("cbc-mbta.xml"), .kafka = &producer});
    EXPECT_EQ(r.json()["topic"], "localhost.test");
    EXPECT_EQ(r.json()["graceid"].get<std::string>()[0], 'T');
}

TEST(CreateEvent, NoUploadAndSkipSupervisorAreInTheMessage) {
    TokenEnv env;
    write_dual_token(env);
    StandIn standin{standin_options()};
    GraceDb client{standin.service_url()};
    auto producer = client.create_kafka_producer(producer_options());
    auto r = client.create_event("CBC", "pycbc", "x.xml",
                                 {.filecontents = "abc", .kafka = &producer, .gracedb_upload = false});
    const auto body = r.json();
    EXPECT_TRUE(body["graceid"].is_null());
    EXPECT_FALSE(r.timing("reserve")) << "no reservation";
    auto m = read_message(body["topic"], body["partition"], body["offset"]);
    EXPECT_FALSE(m.key) << "no key without a graceid";
    auto msg = nlohmann::json::parse(m.value);
    EXPECT_TRUE(msg["graceid"].is_null());
    EXPECT_TRUE(msg["submitter"].is_null());
    EXPECT_EQ(msg["gracedb_upload"], false);

    auto s = client.create_event("CBC", "pycbc", "x.xml", {.filecontents = "abc", .kafka = &producer, .skip_supervisor = true});
    auto m2 = read_message(s.json()["topic"], s.json()["partition"], s.json()["offset"]);
    EXPECT_EQ(nlohmann::json::parse(m2.value)["skip_supervisor"], true);
}

TEST(CreateEvent, AFailedReservationFallsBackToHttpOrSaysWhichStepFailed) {
    TokenEnv env;
    write_dual_token(env);
    StandIn standin{standin_options()};
    GraceDb client{standin.service_url()};
    auto producer = client.create_kafka_producer(producer_options());
    standin.fail_next("reservations", 500);
    auto r = client.create_event("CBC", "gstlal", "coinc.xml",
                                 {.filecontents = "file", .kafka = &producer, .http_fallback = true});
    EXPECT_EQ(r.status, 201) << "created over HTTP";
    EXPECT_EQ(standin.event_file(r.json()["graceid"]), "file");

    standin.fail_next("reservations", 500);
    try {
        client.create_event("CBC", "gstlal", "coinc.xml", {.filecontents = "file", .kafka = &producer});
        FAIL() << "expected HTTPError";
    } catch (const HTTPError& e) {
        EXPECT_EQ(e.status(), 500);
        EXPECT_NE(std::string{e.what()}.find("reservation step"), std::string::npos) << e.what();
    }
}

TEST(CreateEvent, AFailedPublishCompletesTheReservationOverHttp) {
    TokenEnv env;
    write_dual_token(env);
    StandIn standin{standin_options()};
    GraceDb client{standin.service_url()};
    auto o = producer_options(2s);
    o.bootstrap_servers = "127.0.0.1:9";  // the broker is down
    o.token_audience = Rig::get().audience;
    o.kafka_config["message.timeout.ms"] = "1500";
    auto producer = client.create_kafka_producer(o);
    auto r = client.create_event("CBC", "gstlal", "coinc.xml",
                                 {.filecontents = "bytes", .kafka = &producer, .http_fallback = true});
    EXPECT_EQ(r.status, 201);
    const std::string id = r.json()["graceid"];
    EXPECT_EQ(standin.event_file(id), "bytes") << "the reserved graceid was completed over HTTP";
    EXPECT_TRUE(r.timing("reserve"));

    try {
        client.create_event("CBC", "gstlal", "coinc.xml", {.filecontents = "bytes", .kafka = &producer});
        FAIL() << "expected a Kafka error";
    } catch (const KafkaError& e) {
        EXPECT_NE(std::string{e.what()}.find("publish step"), std::string::npos) << e.what();
        EXPECT_NE(std::string{e.what()}.find("reserved"), std::string::npos) << e.what();
    }
}

TEST(CreateEvent, HttpErrorsCarryStatusAndBody) {
    TokenEnv env;
    write_dual_token(env);
    StandIn standin{standin_options()};
    GraceDb client{standin.service_url(), {.retry_backoff = 50ms}};
    try {
        client.create_event("NoSuchGroup", "gstlal", "f.xml", {.filecontents = "x"});
        FAIL();
    } catch (const HTTPError& e) {
        EXPECT_EQ(e.status(), 400);
        EXPECT_NE(e.body().find("group"), std::string::npos) << e.body();
    }
    try {
        client.upload_reserved_event("G999999", "CBC", "gstlal", "f.xml", {.filecontents = "x"});
        FAIL();
    } catch (const HTTPError& e) {
        EXPECT_EQ(e.status(), 404) << "never reserved";
    }
    // Someone else's reservation: 403 for a pipeline, allowed for the supervisor (a service principal).
    const std::string id = client.reserve_graceid("CBC", "gstlal").json()["graceid"];
    {
        TokenEnv other;
        write_dual_token(other, "follower");
        GraceDb intruder{standin.service_url()};
        try {
            intruder.upload_reserved_event(id, "CBC", "gstlal", "f.xml", {.filecontents = "x"});
            FAIL();
        } catch (const HTTPError& e) {
            EXPECT_EQ(e.status(), 403);
        }
    }
    {
        TokenEnv svc;
        write_dual_token(svc, "supervisor");
        GraceDb supervisor{standin.service_url()};
        auto up = supervisor.upload_reserved_event(id, "CBC", "gstlal", "f.xml", {.filecontents = "x"});
        EXPECT_EQ(up.status, 201);
        EXPECT_EQ(up.json()["submitter"], "pipeline") << "the event keeps the reservation's submitter";
    }
    // Transient 502s on a safe request are retried; on an event-creating POST never.
    standin.fail_next("events/" + id, 502, 2);
    EXPECT_EQ(client.event(id).status, 200);
    standin.fail_next("events/", 502, 1);
    try {
        client.create_event("CBC", "gstlal", "f.xml", {.filecontents = "x"});
        FAIL();
    } catch (const HTTPError& e) {
        EXPECT_EQ(e.status(), 502);
    }
    EXPECT_EQ(standin.event_count(), 1u) << "the failed create was not retried behind our back";
}

TEST(CreateEvent, TheStandInRefusesBadTokens) {
    const Rig& rig = Rig::get();
    StandIn standin{standin_options()};
    auto status_with = [&](const std::string& token) {
        return std::stoi(run_command("curl -s -o /dev/null -w '%{http_code}' -A test -H 'Authorization: Bearer " + token +
                                     "' " + standin.service_url()));
    };
    TokenSpec good;
    good.aud = {"https://localhost"};
    EXPECT_EQ(status_with(rig.token(good)), 200);
    TokenSpec expired = good;
    expired.iat = now_seconds() - 600;
    expired.exp = now_seconds() - 5;
    EXPECT_EQ(status_with(rig.token(expired)), 401);
    TokenSpec wrong_aud;
    wrong_aud.aud = {"https://elsewhere"};
    EXPECT_EQ(status_with(rig.token(wrong_aud)), 401);
    TokenSpec no_scope = good;
    no_scope.scope = "kafka.produce";
    EXPECT_EQ(status_with(rig.token(no_scope)), 401);
    TokenSpec other_key = good;
    other_key.iss = rig.issuer;
    other_key.iat = now_seconds();
    other_key.exp = now_seconds() + 600;
    other_key.kid = rig.kid;
    EXPECT_EQ(status_with(mint_token(read_file(rig.other_key_file), other_key)), 401);
    EXPECT_EQ(std::stoi(run_command("curl -s -o /dev/null -w '%{http_code}' -A test " + standin.service_url())), 401)
        << "no token";
    EXPECT_EQ(std::stoi(run_command("curl -s -o /dev/null -w '%{http_code}' -H 'User-Agent:' -H 'Authorization: Bearer " +
                                    rig.token(good) + "' " + standin.service_url())),
              400)
        << "no User-Agent";
}

TEST(CreateEvent, AClientWhoseTokenExpiredGetsACredentialError) {
    TokenEnv env;
    TokenSpec spec;
    spec.aud = {"https://localhost"};
    env.write_token(spec, 3s);
    StandIn standin{standin_options()};
    GraceDb client{standin.service_url(), {.reload_cred = false}};
    EXPECT_EQ(client.api_root().contains("links"), true);
    std::this_thread::sleep_for(3500ms);
    EXPECT_THROW(client.event("G1"), CredentialError);
}

TEST(CreateEvent, AnUnreadableFileSaysSo) {
    TokenEnv env;
    write_dual_token(env);
    StandIn standin{standin_options()};
    GraceDb client{standin.service_url()};
    try {
        client.create_event("CBC", "gstlal", "/no/such/coinc.xml");
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string{e.what()}.find("/no/such/coinc.xml"), std::string::npos);
    }
}
