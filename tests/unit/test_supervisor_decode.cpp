// The supervisor's pure parts: decoding a message into an upload, a skip or a dead letter (any bytes), the
// classification of an upload's outcome, and the per-partition offset tracker.
//
// Each "bad shape" below made the old supervisor throw out of run() (nlohmann's type_error from
// body.value("type", "") and friends, never caught) or upload something it should not have; the comment on each
// says which. Now each is a dead letter with its reason.
#include <gracedb/rest/errors.hpp>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <gracedb/kafka.hpp>
#include <gracedb/testing/mock_cluster.hpp>

#include "supervisor/decode.hpp"
#include "supervisor/partitions.hpp"
#include "supervisor/tracker.hpp"

using namespace gracedb;
using namespace gracedb::supervisor_detail;
using Kind = Decoded::Kind;

namespace {

nlohmann::json good() {
    return {{"type", "event"},          {"_producer_timestamp", 1764172800.5},
            {"graceid", "G123456"},     {"pipeline", "gstlal"},
            {"submitter", "albert"},    {"eventFile", {"coinc.xml", "aGVsbG8="}},
            {"group", "CBC"},           {"search", "AllSky"},
            {"offline", false},         {"labels", nlohmann::json::array({"EM_READY"})},
            {"gracedb_upload", true},   {"skip_supervisor", false}};
}

Decoded with(const char* field, nlohmann::json value) {
    auto j = good();
    j[field] = std::move(value);
    return decode_message(j.dump());
}

}  // namespace

TEST(SupervisorDecode, AGoodEventIsAnUpload) {
    const auto d = decode_message(good().dump());
    ASSERT_EQ(d.kind, Kind::upload) << d.reason;
    const auto& u = *d.upload;
    EXPECT_EQ(u.graceid, "G123456");
    EXPECT_EQ(u.group, "CBC");
    EXPECT_EQ(u.pipeline, "gstlal");
    EXPECT_EQ(u.filename, "coinc.xml");
    EXPECT_EQ(u.options.filecontents, "hello");
    EXPECT_EQ(u.options.search, "AllSky");
    EXPECT_FALSE(u.options.offline);
    EXPECT_EQ(u.options.labels, std::vector<std::string>{"EM_READY"});
    EXPECT_EQ(d.producer_timestamp, 1764172800.5);
}

TEST(SupervisorDecode, OptionalFieldsMayBeAbsentOrNull) {
    auto j = good();
    for (const char* f : {"search", "offline", "labels", "gracedb_upload", "skip_supervisor", "_producer_timestamp", "submitter"})
        j.erase(f);
    auto d = decode_message(j.dump());
    ASSERT_EQ(d.kind, Kind::upload) << d.reason;
    EXPECT_FALSE(d.upload->options.search);
    EXPECT_FALSE(d.producer_timestamp);
    for (const char* f : {"search", "offline", "labels", "gracedb_upload", "skip_supervisor"}) {
        d = with(f, nullptr);
        EXPECT_EQ(d.kind, Kind::upload) << f << ": " << d.reason;
    }
}

TEST(SupervisorDecode, Base64WithLineBreaksIsAccepted) {
    // Python: base64.encodebytes(b"x" * 100): a line break after every 76 characters and at the end.
    const std::string text(100, 'x');
    std::string flat;
    for (int i = 0; i < 33; ++i) flat += "eHh4";
    flat += "eA==";
    const std::string lines = flat.substr(0, 76) + "\n" + flat.substr(76) + "\n";
    auto d = with("eventFile", {"a.xml", lines});
    ASSERT_EQ(d.kind, Kind::upload) << d.reason;
    EXPECT_EQ(d.upload->options.filecontents, text);
    d = with("eventFile", {"a.xml", "aGVs\r\nbG8=\r\n"});
    ASSERT_EQ(d.kind, Kind::upload) << d.reason;
    EXPECT_EQ(d.upload->options.filecontents, "hello");
    EXPECT_EQ(with("eventFile", {"a.xml", "aGVs*bG8="}).kind, Kind::dead) << "other characters are still refused";
    EXPECT_EQ(with("eventFile", {"a.xml", ""}).kind, Kind::upload) << "an empty file is a file";
}

TEST(SupervisorDecode, WhatIsNotAnEventToUploadIsSkipped) {
    EXPECT_EQ(decode_message(R"({"type":"ping","sub":"x"})").kind, Kind::skip);
    EXPECT_EQ(decode_message(R"({"hello":"world"})").kind, Kind::skip) << "no type";
    EXPECT_EQ(decode_message(R"({"type":null})").kind, Kind::skip);
    auto d = with("gracedb_upload", false);
    EXPECT_EQ(d.kind, Kind::skip);
    EXPECT_EQ(d.reason, "gracedb_upload is false");
    d = with("skip_supervisor", true);
    EXPECT_EQ(d.kind, Kind::skip);
    EXPECT_EQ(d.graceid, "G123456");
}

// Each of these threw nlohmann::json::type_error out of the old supervisor's run() (body.value(...) of the
// wrong type): one 14-byte message stopped it, and every restart died on it again.
TEST(SupervisorDecode, FieldsOfTheWrongTypeAreDeadLetters_OnceFatal) {
    struct Case {
        const char* field;
        nlohmann::json value;
        const char* reason;
    };
    const std::vector<Case> cases = {
        {"type", false, "type is a boolean, not a string"},
        {"type", 1, "type is a number, not a string"},
        {"type", {{"a", 1}}, "type is an object, not a string"},
        {"gracedb_upload", "true", "gracedb_upload is a string, not a boolean"},
        {"gracedb_upload", 1, "gracedb_upload is a number, not a boolean"},
        {"skip_supervisor", "no", "skip_supervisor is a string, not a boolean"},
        {"skip_supervisor", nlohmann::json::array(), "skip_supervisor is an array, not a boolean"},
        {"offline", "False", "offline is a string, not a boolean"},
        {"offline", 0, "offline is a number, not a boolean"},
    };
    for (const auto& c : cases) {
        const auto d = with(c.field, c.value);
        EXPECT_EQ(d.kind, Kind::dead) << c.field << "=" << c.value.dump();
        EXPECT_EQ(d.reason, c.reason);
    }
    EXPECT_EQ(decode_message(R"({"type":false})").reason, "type is a boolean, not a string");
}

// These were dead-lettered or silently tolerated by the old supervisor in ways that hid the cause; a few (the
// group/pipeline/eventFile element types) reached nlohmann conversions that threw out of run().
TEST(SupervisorDecode, UnusableFieldsAreDeadLettersWithTheirReason) {
    struct Case {
        const char* field;
        nlohmann::json value;
        const char* reason;
    };
    const std::vector<Case> cases = {
        {"graceid", nullptr, "no graceid in an event to upload"},
        {"graceid", 123456, "graceid is a number, not a string"},
        {"graceid", "", "graceid is empty"},
        {"graceid", "../../api/events", "graceid contains a character other than a letter or digit"},  // into the URL
        {"graceid", "G1?x=1", "graceid contains a character other than a letter or digit"},
        {"graceid", std::string(65, 'G'), "graceid is 65 bytes long"},
        {"group", nullptr, "no group"},
        {"group", 5, "group is a number, not a string"},
        {"group", "", "group is empty"},
        {"group", "CBC\r\nX-Injected: 1", "group contains a control character"},
        {"pipeline", nlohmann::json::array({"gstlal"}), "pipeline is an array, not a string"},
        {"pipeline", std::string(1000, 'p'), "pipeline is 1000 bytes long (at most 256)"},
        {"search", 3, "search is a number, not a string"},
        {"labels", "EM_READY", "labels is a string, not an array of strings"},
        {"labels", {1, 2}, "a label is a number, not a string"},
        {"labels", nlohmann::json::array({"A", nullptr}), "a label is null, not a string"},
        {"eventFile", nullptr, "no eventFile"},
        {"eventFile", "coinc.xml", "eventFile is a string, not [filename, base64 contents]"},
        {"eventFile", nlohmann::json::array({"coinc.xml"}), "eventFile is an array of 1, not [filename, base64 contents]"},
        {"eventFile", {"a", "b", "c"}, "eventFile is an array of 3, not [filename, base64 contents]"},
        {"eventFile", {1, "aGVsbG8="}, "eventFile's filename is a number, not a string"},
        {"eventFile", {"", "aGVsbG8="}, "eventFile's filename is empty"},
        {"eventFile", {"a.xml", 42}, "eventFile's contents are a number, not a base64 string"},
        {"eventFile", {"a.xml", {{"b", 1}}}, "eventFile's contents are an object, not a base64 string"},
        {"eventFile", {"a.xml", "not base64!"}, "eventFile contents are not valid base64"},
        {"eventFile", {"a.xml", "aGVsbG8=aGVs"}, "eventFile contents are not valid base64"},
    };
    for (const auto& c : cases) {
        const auto d = with(c.field, c.value);
        EXPECT_EQ(d.kind, Kind::dead) << c.field << "=" << c.value.dump().substr(0, 80);
        EXPECT_EQ(d.reason, c.reason) << c.field;
        EXPECT_FALSE(d.upload);
    }
    auto many = good();
    many["labels"] = std::vector<std::string>(kMaxLabels + 1, "L");
    EXPECT_EQ(decode_message(many.dump()).reason, "labels has 129 entries (at most 128)");
}

TEST(SupervisorDecode, AnyByteStringIsHandled) {
    EXPECT_EQ(decode_message("").reason, "the value is not JSON");
    EXPECT_EQ(decode_message("this is not JSON").reason, "the value is not JSON");
    EXPECT_EQ(decode_message(std::string("\x00\xff\xfe{", 4)).reason, "the value is not JSON");
    EXPECT_EQ(decode_message("{\"type\":\"ev\xc3").reason, "the value is not JSON") << "invalid UTF-8";
    EXPECT_EQ(decode_message("[1,2]").reason, "the value is not a JSON object (it is an array)");
    EXPECT_EQ(decode_message("\"event\"").reason, "the value is not a JSON object (it is a string)");
    EXPECT_EQ(decode_message("null").reason, "the value is not a JSON object (it is null)");
    EXPECT_EQ(decode_message("1e999").kind, Kind::dead);
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    EXPECT_EQ(decode_message(deep).kind, Kind::dead) << "deep nesting: no recursion to overflow";
    const std::string deep_object = "{\"type\":" + std::string(50000, '[') + std::string(50000, ']') + "}";
    EXPECT_EQ(decode_message(deep_object).reason, "type is an array, not a string");
    auto j = good();
    j["_producer_timestamp"] = 1e300;  // a huge timestamp: ignored, not a huge negative delay
    EXPECT_FALSE(decode_message(j.dump()).producer_timestamp);
    j["_producer_timestamp"] = "now";
    EXPECT_EQ(decode_message(j.dump()).kind, Kind::upload);
    j = good();
    j["graceid"] = std::string(100000, 'G');
    const auto d = decode_message(j.dump());
    EXPECT_EQ(d.kind, Kind::dead);
    ASSERT_TRUE(d.graceid);
    EXPECT_LE(d.graceid->size(), kMaxGraceidLength + 3) << "a huge graceid is not copied into reports whole";
}

TEST(SupervisorDecode, OutcomesOfAnUploadAreClassified) {
    using K = AttemptResult::Kind;
    const Upload u{.graceid = "G1"};
    auto status = [&](long s) { return attempt_upload(u, [s](const Upload&) { return Response{.status = s}; }).kind; };
    EXPECT_EQ(status(201), K::uploaded);
    EXPECT_EQ(status(409), K::already_uploaded);
    auto thrown = [&](auto make) {
        return attempt_upload(u, [&](const Upload&) -> Response { throw make(); });
    };
    for (long s : {408L, 429L, 500L, 502L, 503L, 504L})
        EXPECT_EQ(thrown([s] { return HTTPError(s, "busy", "HTTP"); }).kind, K::transient) << s;
    // The supervisor refused (its token is anonymous to GraceDB: 403), or something in front of GraceDB: retried.
    for (long s : {401L, 403L, 405L, 413L, 302L, 307L})
        EXPECT_EQ(thrown([s] { return HTTPError(s, "{\"detail\":\"no\"}", "HTTP"); }).kind, K::refused) << s;
    EXPECT_EQ(status(302), K::refused) << "a redirect (returned, not raised) is not an upload";
    EXPECT_EQ(thrown([] { return HTTPError(400, "Your client software is out of date", "HTTP"); }).kind, K::refused)
        << "a 400 that is not GraceDB's judgement of the fields";
    EXPECT_EQ(thrown([] { return HTTPError(400, "<html>Bad Request</html>", "HTTP"); }).kind, K::refused);
    {
        const auto r = thrown([] { return HTTPError(400, R"({"errors":["group: * Select a valid choice."]})", "HTTP"); });
        EXPECT_EQ(r.kind, K::dead) << "GraceDB's own judgement of the event's fields";
        EXPECT_EQ(r.detail, R"(HTTP 400: {"errors":["group: * Select a valid choice."]})");
    }
    EXPECT_EQ(thrown([] { return HTTPError(400, R"({"error":"Please provide a valid pipeline."})", "HTTP"); }).kind,
              K::dead);
    EXPECT_EQ(thrown([] { return HTTPError(404, "Not Found", "HTTP"); }).kind, K::not_found)
        << "never reserved, or a proxy: the supervisor decides";
    EXPECT_EQ(thrown([] { return TransportError("connection refused", Errc::connection_failed); }).kind, K::transient);
    EXPECT_EQ(thrown([] { return TransportError("timed out", Errc::timed_out); }).kind, K::transient);
    EXPECT_EQ(thrown([] { return TransportError("certificate", Errc::tls_failed); }).kind, K::refused);
    EXPECT_EQ(thrown([] { return CredentialError("token expired"); }).kind, K::refused);
    EXPECT_EQ(thrown([] { return std::invalid_argument("bad"); }).kind, K::unknown_name);
    EXPECT_EQ(thrown([] { return std::runtime_error("?"); }).kind, K::transient);
    EXPECT_EQ(attempt_upload(u, [](const Upload&) -> Response { throw 42; }).kind, K::transient) << "never throws";
}

TEST(SupervisorTracker, CommitPointIsTheFirstOffsetNotDone) {
    PartitionTracker t{1};
    EXPECT_FALSE(t.commit_point());
    EXPECT_FALSE(t.needs_commit());
    for (std::int64_t o = 10; o < 15; ++o) EXPECT_TRUE(t.admit(o, false));
    t.admit(15, true);  // a ping: done at once
    EXPECT_EQ(t.commit_point(), 10);
    t.done(12);
    t.done(13);
    EXPECT_EQ(t.commit_point(), 10) << "10 still in flight: nothing after it is committable";
    t.done(10);
    EXPECT_EQ(t.commit_point(), 11);
    t.done(11);
    EXPECT_EQ(t.commit_point(), 14);
    t.done(14);
    EXPECT_EQ(t.commit_point(), 16) << "all done: one past the last admitted";
    EXPECT_TRUE(t.needs_commit());
    t.committing(16);
    EXPECT_FALSE(t.needs_commit());
    t.commit_failed(16);
    EXPECT_TRUE(t.needs_commit()) << "a failed commit is tried again";
    t.committing(16);
    t.commit_confirmed(16);
    EXPECT_EQ(t.confirmed(), 16);
    EXPECT_FALSE(t.admit(12, false)) << "a rewind is refused (the caller starts a new tracker)";
    EXPECT_TRUE(t.admit(20, false)) << "gaps in offsets (compaction, transaction markers) are fine";
    EXPECT_EQ(t.commit_point(), 20);
}

// The topic and the key bind what a message may claim (issue 21).
TEST(SupervisorDecode, TheTopicAndTheKeyBindTheBody) {
    const Upload cbc{.graceid = "G100002", .group = "CBC", .pipeline = "gstlal"};
    const Upload test{.graceid = "T100003", .group = "Test", .pipeline = "gstlal"};
    const std::optional<std::string> g{"G100002"}, t{"T100003"};
    EXPECT_FALSE(binding_problem(cbc, "inst.gstlal", g, "inst"));
    EXPECT_FALSE(binding_problem(test, "inst.test", t, "inst"));
    EXPECT_FALSE(binding_problem(Upload{.graceid = "G1", .group = "Burst", .pipeline = "CWB"}, "inst.cwb",
                                 std::optional<std::string>{"G1"}, "inst"))
        << "the pipeline's topic is its name in lower case";
    EXPECT_TRUE(binding_problem(cbc, "inst.test", g, "inst")) << "a CBC reservation from the open test topic";
    EXPECT_TRUE(binding_problem(cbc, "inst.pycbc", g, "inst")) << "another pipeline's topic";
    EXPECT_TRUE(binding_problem(cbc, "other.gstlal", g, "inst")) << "another instance";
    EXPECT_TRUE(binding_problem(test, "inst.gstlal", t, "inst")) << "Test only on the test topic";
    EXPECT_TRUE(binding_problem(cbc, "inst.gstlal", std::optional<std::string>{"G999999"}, "inst")) << "key";
    EXPECT_TRUE(binding_problem(cbc, "inst.gstlal", std::nullopt, "inst")) << "no key";
    EXPECT_TRUE(binding_problem(Upload{.graceid = "G100002", .group = "Test", .pipeline = "gstlal"}, "inst.test", g,
                                "inst"))
        << "a Test message naming a G reservation";
    EXPECT_TRUE(binding_problem(Upload{.graceid = "T1", .group = "CBC", .pipeline = "gstlal"}, "inst.gstlal",
                                std::optional<std::string>{"T1"}, "inst"))
        << "a CBC message naming a Test reservation";
}

// Regression (a failure of integration.SupervisorBurst.Malformed... seen in this round's suite): librdkafka
// 2.0.2 fetched the first message of a partition a second time after the supervisor resumed the newly assigned
// partition, and the supervisor took it for a rewound partition: it dropped the partition's state and
// processed the message again (a second dead letter). A message delivered again while the partition stayed
// ours was admitted already: it is reported as a duplicate, and the partition's state is kept.
TEST(SupervisorPartitions, AMessageDeliveredAgainWhileThePartitionStaysOursIsADuplicate) {
    gracedb::testing::MockCluster cluster;
    gracedb::kafka::Consumer consumer{{.bootstrap_servers = cluster.bootstrap_servers(),
                                       .topics = {"p"},
                                       .instance_name = "mock",
                                       .use_ssl = false,
                                       .kafka_config = {{"security.protocol", "plaintext"}}}};
    Partitions parts{consumer, [](const gracedb::kafka::KafkaError&, const char*) {}};
    const gracedb::kafka::TopicPartition tp{"mock.p", 3};
    bool duplicate = true;
    const auto epoch = parts.admit(tp, 0, false, duplicate);
    EXPECT_FALSE(duplicate);
    parts.admit(tp, 1, false, duplicate);
    EXPECT_FALSE(duplicate);
    EXPECT_EQ(parts.admit(tp, 0, false, duplicate), epoch) << "the partition's state is kept";
    EXPECT_TRUE(duplicate) << "offset 0 was admitted already";
    EXPECT_EQ(parts.pending(), 2u) << "both messages still held once";
    EXPECT_NE(parts.tracker(tp, epoch), nullptr);
}
