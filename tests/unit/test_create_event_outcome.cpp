// create_event's outcomes on librdkafka's mock cluster with a slow broker (1.5 s round trip, a 500 ms
// flush_timeout), the GraceDB stand-in and a supervisor: whatever a pipeline does with the errors it is
// given, every logical event ends as exactly one GraceDB event. And a producer of another instance than the
// client's service is refused before anything is reserved.
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/supervisor.hpp>
#include <gracedb/testing/standin.hpp>
#include <gtest/gtest.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <iostream>
#include <random>

using namespace gracedb;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A raw mock cluster (one broker, whose answers can be delayed), a stand-in without authentication, and one
// pipeline topic of the instance.
struct SlowWorld {
    std::string instance = "outcome" + std::to_string(std::random_device{}() % 1000000);
    rd_kafka_t* handle = nullptr;
    rd_kafka_mock_cluster_t* cluster = nullptr;
    std::string bootstrap;
    std::unique_ptr<StandIn> standin;

    SlowWorld() {
        char err[256];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err);
        handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        if (!handle) throw std::runtime_error(err);
        cluster = rd_kafka_handle_mock_cluster(handle);
        bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
        rd_kafka_mock_topic_create(cluster, topic().c_str(), 1, 1);
        rd_kafka_mock_topic_create(cluster, ("gracedb-deadletter." + instance).c_str(), 1, 1);
        standin = std::make_unique<StandIn>(StandInOptions{.url_host = instance + ".localhost"});
    }
    ~SlowWorld() {
        standin.reset();
        rd_kafka_destroy(handle);
    }
    SlowWorld(const SlowWorld&) = delete;
    SlowWorld& operator=(const SlowWorld&) = delete;

    std::string topic() const { return instance + ".gstlal"; }
    void set_round_trip(std::chrono::milliseconds rtt) const {
        ASSERT_EQ(rd_kafka_mock_broker_set_rtt(cluster, 1, static_cast<int>(rtt.count())),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    // Messages in the topic (its high watermark), asked with a client of its own.
    std::int64_t messages_in_topic() const {
        char err[256];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
        rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        if (!rk) throw std::runtime_error(err);
        std::int64_t low = -1, high = -1;
        const auto rc = rd_kafka_query_watermark_offsets(rk, topic().c_str(), 0, &low, &high, 10000);
        rd_kafka_destroy(rk);
        if (rc) throw std::runtime_error(std::string{"watermarks: "} + rd_kafka_err2str(rc));
        return high;
    }
    SupervisorOptions supervisor_options() const {
        return {.consumer = {.bootstrap_servers = bootstrap,
                             .instance_name = instance,
                             .group_id = "sup-" + instance,
                             .kafka_config = {{"security.protocol", "plaintext"},
                                              {"session.timeout.ms", "6000"},
                                              {"heartbeat.interval.ms", "300"}}},
                .service_url = standin->service_url(),
                .rest = {.force_noauth = true},
                .initial_backoff = 100ms,
                .max_backoff = 200ms,
                .poll_timeout = 50ms,
                .commit_interval = 50ms,
                .handle_signals = false};
    }
};

// What a pipeline does with an error of create_event.
enum class Caller {
    finishes_what_it_is_offered,  // the same graceid when the error names one; else retries what is retriable
    retries_what_is_retriable,    // retries a retriable error (once), ignores everything else
    uses_http_fallback,           // http_fallback on, and retries as the first
};

struct Tally {
    int failed_calls = 0;
    int unfinished_errors = 0;
    int may_still_be_delivered = 0;
    int retriable_although_it_may_still_be_delivered = 0;
    int finished = 0;
};

void submit(GraceDb& client, kafka::Producer& producer, int n, Caller how, Tally& t) {
    const CreateEventOptions o{.filecontents = "event " + std::to_string(n), .kafka = &producer,
                               .http_fallback = how == Caller::uses_http_fallback};
    for (int attempt = 0; attempt < 2; ++attempt) {  // a call, and one retry of a retriable error
        try {
            client.create_event("CBC", "gstlal", "coinc.xml", o);
            return;
        } catch (const kafka::KafkaUnfinishedEventError& e) {
            ++t.failed_calls;
            ++t.unfinished_errors;
            if (e.may_still_be_delivered()) ++t.may_still_be_delivered;
            if (e.may_still_be_delivered() && e.retriable()) ++t.retriable_although_it_may_still_be_delivered;
            EXPECT_NE(std::string{e.what()}.find(e.graceid()), std::string::npos) << e.what();
            if (how != Caller::retries_what_is_retriable) {
                const auto r = client.upload_reserved_event(e.graceid(), "CBC", "gstlal", "coinc.xml", o);
                EXPECT_TRUE(r.status == 201 || r.status == 409) << r.status << " " << r.body;
                ++t.finished;
                return;
            }
            if (!e.retriable()) return;
        } catch (const Error& e) {
            ++t.failed_calls;
            if (!e.retriable()) return;
        }
    }
}

// Broker round trip 1.5 s, flush_timeout 500 ms: each create_event's wait for its own report times out while
// its message is still on its way. Two logical events; then everything settles: the late messages are
// delivered, the supervisor handles every message of the topic. GraceDB must hold exactly two events.
void two_logical_events_on_a_slow_broker(Caller how) {
    SlowWorld w;
    w.set_round_trip(1500ms);
    GraceDb client{w.standin->service_url(), {.force_noauth = true}};
    Tally t;
    {
        kafka::Producer producer{{.bootstrap_servers = w.bootstrap,
                                  .instance_name = w.instance,
                                  .flush_timeout = 500ms,
                                  .kafka_config = {{"security.protocol", "plaintext"},
                                                   {"message.timeout.ms", "60000"}}}};
        for (int n = 0; n < 2; ++n) submit(client, producer, n, how, t);
        w.set_round_trip(0ms);
        EXPECT_EQ(producer.flush(60s), 0) << "every late message delivered";
    }
    const auto messages = w.messages_in_topic();
    Supervisor sup{w.supervisor_options()};
    const auto deadline = Clock::now() + 60s;
    auto handled = [&] {
        const auto s = sup.stats();
        return s.uploaded + s.already_uploaded + s.skipped + s.dead_lettered;
    };
    while (handled() < static_cast<std::uint64_t>(messages) && Clock::now() < deadline) sup.step();
    while (sup.stats().in_flight > 0 && Clock::now() < deadline) sup.step();
    const auto stats = sup.stats();
    std::cout << "2 logical events: " << t.failed_calls << " calls reported failed (" << t.unfinished_errors
              << " naming an unfinished graceid, " << t.may_still_be_delivered << " whose message may still "
              << "be delivered, " << t.finished << " finished by the caller), " << messages
              << " messages in the topic, supervisor: " << stats.uploaded << " uploaded, "
              << stats.already_uploaded << " already uploaded (409); GraceDB: " << w.standin->event_count()
              << " events, " << w.standin->duplicate_uploads() << " refused duplicate uploads\n";
    ASSERT_EQ(handled(), static_cast<std::uint64_t>(messages)) << "the supervisor handled every message";
    EXPECT_EQ(stats.dead_lettered, 0u);
    EXPECT_EQ(w.standin->event_count(), 2u) << "exactly one GraceDB event per logical event";
    EXPECT_EQ(t.retriable_although_it_may_still_be_delivered, 0)
        << "an error whose message may still be delivered is never retriable()";
}

}  // namespace

TEST(CreateEventOutcome, ACallerThatFinishesWhatItIsOfferedMakesOneEventPerLogicalEvent) {
    two_logical_events_on_a_slow_broker(Caller::finishes_what_it_is_offered);
}

TEST(CreateEventOutcome, ACallerThatRetriesWhatIsRetriableMakesOneEventPerLogicalEvent) {
    two_logical_events_on_a_slow_broker(Caller::retries_what_is_retriable);
}

TEST(CreateEventOutcome, WithHttpFallbackATimedOutPublishIsCompletedOverHttpOnce) {
    two_logical_events_on_a_slow_broker(Caller::uses_http_fallback);
}

// The producer of another instance than the client's service: refused with a typed error naming both, and
// not one graceid reserved (the stand-in numbers reservations one after the other).
TEST(CreateEventOutcome, AProducerOfAnotherInstanceIsRefusedBeforeAnythingIsReserved) {
    StandIn standin{{.url_host = "svcinstance.localhost"}};
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    kafka::Producer other{{.bootstrap_servers = "127.0.0.1:9",
                           .instance_name = "otherinstance",
                           .flush_timeout = 1s,
                           .kafka_config = {{"security.protocol", "plaintext"}}}};
    auto number = [](const Response& r) {
        return std::stol(r.json()["graceid"].get<std::string>().substr(1));
    };
    const auto before = number(client.reserve_graceid("CBC", "gstlal"));
    try {
        client.create_event("CBC", "gstlal", "coinc.xml",
                            {.filecontents = "x", .kafka = &other, .http_fallback = true});
        FAIL() << "a producer of another instance was used";
    } catch (const kafka::KafkaProducerError& e) {
        EXPECT_EQ(e.code(), Errc::invalid_configuration) << e.what();
        EXPECT_FALSE(e.retriable());
        const std::string what = e.what();
        EXPECT_NE(what.find("\"otherinstance\""), std::string::npos) << what;
        EXPECT_NE(what.find("\"svcinstance\""), std::string::npos) << what;
    }
    EXPECT_EQ(number(client.reserve_graceid("CBC", "gstlal")), before + 1)
        << "no graceid reserved in between";
    EXPECT_EQ(standin.event_count(), 0u);

    // The producer the client makes is of its own instance.
    auto own = client.create_kafka_producer({.bootstrap_servers = "127.0.0.1:9", .flush_timeout = 1s,
                                             .kafka_config = {{"security.protocol", "plaintext"}}});
    EXPECT_EQ(own.instance_name(), "svcinstance");
}

// With http_fallback, a reserved upload answered 409 (the Kafka copy was delivered and uploaded first) is the
// event done, not a failure: the response still names the graceid.
TEST(CreateEventOutcome, AFallbackThatFindsTheEventAlreadyUploadedIsDone) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    auto dead = client.create_kafka_producer({.bootstrap_servers = "127.0.0.1:9", .flush_timeout = 1s,
                                              .kafka_config = {{"security.protocol", "plaintext"}}});
    standin.fail_next("/upload", 409);
    const auto r = client.create_event("CBC", "gstlal", "coinc.xml",
                                       {.filecontents = "x", .kafka = &dead, .http_fallback = true});
    EXPECT_TRUE(r.json()["graceid"].is_string()) << r.status << " " << r.body;
    EXPECT_EQ(r.json()["graceid"], "G100001") << r.body;
}
