// The event-message module (src/client/event): the envelope written by create_event and read by the
// supervisor, its rules, and the one rule of which HTTP answers are retryable, shared by the publisher (its
// HTTPError, its retries, the outbox) and the supervisor.
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>
#include <gtest/gtest.h>

#include <gracedb/kafka.hpp>

#include "client/event/event_message.hpp"
#include "client/event/http_answer.hpp"
#include "client/event/rules.hpp"
#include "supervisor/decode.hpp"

using namespace gracedb;
using namespace std::chrono_literals;
namespace ev = gracedb::event_detail;

// The same answer means the same to both sides: an HTTPError the publisher is told is retriable exactly when
// the supervisor retries it as the server's failure (old code: 500, 501, 505.. were transient to the
// supervisor but a final, not retriable, HTTPError to the publisher, whose outbox then gave up for good).
TEST(EventMessage, PublisherAndSupervisorClassifyEveryStatusAlike) {
    using K = supervisor_detail::AttemptResult::Kind;
    for (long s = 100; s < 600; ++s) {
        const bool publisher = HTTPError(s, "", "HTTP").retriable();
        const bool supervisor = supervisor_detail::classify_answer(s, "") == K::transient;
        EXPECT_EQ(publisher, supervisor) << "HTTP " << s;
    }
    EXPECT_TRUE(HTTPError(500, "Internal Server Error", "HTTP").retriable());
    EXPECT_TRUE(HTTPError(429, "", "HTTP").retriable());
    EXPECT_FALSE(HTTPError(400, "{\"errors\":[\"bad\"]}", "HTTP").retriable());
    EXPECT_FALSE(HTTPError(404, "", "HTTP").retriable());
}

TEST(EventMessage, AnswerClassification) {
    EXPECT_EQ(ev::classify_answer(201, ""), ev::Answer::done);
    EXPECT_EQ(ev::classify_answer(409, ""), ev::Answer::already_done);
    EXPECT_EQ(ev::classify_answer(404, ""), ev::Answer::not_found);
    for (long s : {408L, 429L, 500L, 502L, 503L, 504L})
        EXPECT_EQ(ev::classify_answer(s, ""), ev::Answer::retryable) << s;
    EXPECT_EQ(ev::classify_answer(400, "{\"error\":\"no\"}"), ev::Answer::rejected);
    EXPECT_EQ(ev::classify_answer(400, "<html>Bad Request</html>"), ev::Answer::refused);
    EXPECT_EQ(ev::classify_answer(403, ""), ev::Answer::refused);
    EXPECT_TRUE(ev::may_have_been_applied(502));
    EXPECT_FALSE(ev::may_have_been_applied(429));
}

// What create_event writes, the supervisor reads back field for field (binary file contents included).
TEST(EventMessage, WrittenEnvelopeReadsBackWhole) {
    const ev::EventMessage m{.graceid = "G123",
                             .submitter = "albert",
                             .group = "CBC",
                             .pipeline = "gstlal",
                             .search = "AllSky",
                             .offline = true,
                             .labels = {"EM_READY", "PASTRO_READY"},
                             .filename = "coinc.xml",
                             .contents = std::string{"\0\xff<xml/>\n", 10}};
    const auto r = ev::read_envelope(ev::write_envelope(m, 1.7e9));
    ASSERT_EQ(r.kind, ev::ReadEnvelope::Kind::upload) << r.reason;
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->graceid, m.graceid);
    EXPECT_EQ(r.event->group, m.group);
    EXPECT_EQ(r.event->pipeline, m.pipeline);
    EXPECT_EQ(r.event->search, m.search);
    EXPECT_EQ(r.event->offline, m.offline);
    EXPECT_EQ(r.event->labels, m.labels);
    EXPECT_EQ(r.event->filename, m.filename);
    EXPECT_EQ(r.event->contents, m.contents);
    EXPECT_EQ(r.producer_timestamp, 1.7e9);

    auto unsupervised = m;
    unsupervised.graceid.reset();
    unsupervised.gracedb_upload = false;
    EXPECT_EQ(ev::read_envelope(ev::write_envelope(unsupervised, 1.7e9)).kind, ev::ReadEnvelope::Kind::skip);
}

TEST(EventMessage, FieldRules) {
    EXPECT_FALSE(ev::graceid_problem("G123456"));
    EXPECT_TRUE(ev::graceid_problem(""));
    EXPECT_TRUE(ev::graceid_problem("G1/../x"));
    EXPECT_TRUE(ev::graceid_problem(std::string(ev::kMaxGraceidLength + 1, 'G')));
    EXPECT_FALSE(ev::fields_problem("CBC", "gstlal", "AllSky", {"EM_READY"}, "coinc.xml"));
    EXPECT_TRUE(ev::fields_problem("CBC", "gstlal", std::nullopt, {}, "coinc\n.xml"));
    EXPECT_TRUE(ev::fields_problem("CBC", "gstlal", std::nullopt, {}, "\xff.xml")) << "not UTF-8";
    const std::vector<std::string> too_many(ev::kMaxLabels + 1, "L");
    EXPECT_TRUE(ev::fields_problem("CBC", "gstlal", std::nullopt, too_many, "coinc.xml"));
    EXPECT_EQ(ev::bound_topic("Test", "gstlal"), "test");
    EXPECT_EQ(ev::bound_topic("CBC", "MBTAOnline"), "mbtaonline");
    EXPECT_FALSE(ev::binding_problem("CBC", "gstlal", "G1", "inst.gstlal", std::string{"G1"}, "inst"));
    EXPECT_TRUE(ev::binding_problem("CBC", "gstlal", "G1", "inst.gstlal", std::string{"G2"}, "inst"));
}

// A file name the supervisor would dead-letter (a control character) is refused before anything is reserved
// (old code: it reserved a graceid and published a message that could never be uploaded).
TEST(EventMessage, CreateEventRefusesAFieldTheSupervisorWouldDeadLetterBeforeReserving) {
    StandIn standin{{.url_host = "evinstance.localhost"}};
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    auto producer = client.create_kafka_producer(
        {.bootstrap_servers = "127.0.0.1:9",
         .flush_timeout = 1s,
         .kafka_config = {{"security.protocol", "plaintext"}}});
    auto number = [](const Response& r) {
        return std::stol(r.json()["graceid"].get<std::string>().substr(1));
    };
    const auto before = number(client.reserve_graceid("CBC", "gstlal"));
    EXPECT_THROW(
        client.create_event("CBC", "gstlal", "coinc\x01.xml", {.filecontents = "x", .kafka = &producer}),
        std::invalid_argument);
    EXPECT_EQ(number(client.reserve_graceid("CBC", "gstlal")), before + 1)
        << "no graceid reserved in between";
}
