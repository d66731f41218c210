// The supervisor on librdkafka's mock cluster (raw, so that broker errors can be injected) with the GraceDB
// stand-in: offsets never committed past an event still being uploaded, poison messages dead-lettered without
// stopping it, the state of revoked partitions dropped, commit and fetch failures survived. Committed offsets
// are read back with a separate raw client of the group.
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/supervisor.hpp>
#include <gracedb/testing/standin.hpp>
#include <gtest/gtest.h>

#include "mock_world.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <thread>

using namespace gracedb;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

using namespace gracedb::testing_support;

// An event that keeps failing with 503 holds its partition's committed offset, while the events after it in the
// same partition are uploaded (concurrently): the committed offset reaches the stuck event and never passes it.
TEST(SupervisorMock, CommittedOffsetNeverPassesAnEventStillBeingUploaded) {
    MockWorld w{1, 20ms};
    const auto ids = w.submit(10);
    constexpr std::int64_t stuck_offset = 3;
    const std::string stuck = ids[stuck_offset];
    w.standin->fail_next("reservations/" + stuck + "/upload", 503, 1000000);
    Recorder rec;
    auto o = w.options("g-stuck-" + w.instance);
    o.on_event = rec.hook();
    Supervisor s{o};
    auto others_uploaded = [&] {
        for (const auto& id : ids)
            if (id != stuck && !w.standin->event(id)) return false;
        return true;
    };
    const std::string group = "g-stuck-" + w.instance;
    std::int64_t highest_seen = -1;
    bool reached = false;
    auto next_check = Clock::now();
    const auto deadline = Clock::now() + 60s;
    while (Clock::now() < deadline && !(reached && rec.count("retrying", stuck) >= 3)) {
        s.step();
        if (Clock::now() < next_check) continue;
        next_check = Clock::now() + 100ms;
        // The stand-in has not stored it, so no result of it reached the supervisor before this query.
        ASSERT_FALSE(w.standin->event(stuck)) << "the stuck event cannot be uploaded";
        const auto c = w.committed(group, 0);
        highest_seen = std::max(highest_seen, c);
        ASSERT_LE(c, stuck_offset) << "committed past an event still being uploaded";
        reached = c == stuck_offset && others_uploaded();
    }
    EXPECT_TRUE(others_uploaded()) << "the events after the stuck one are uploaded meanwhile";
    EXPECT_EQ(highest_seen, stuck_offset) << "everything before the stuck event is committed";
    EXPECT_GE(rec.count("retrying", stuck), 3u) << "the stuck event is retried with back-off";
    EXPECT_EQ(s.stats().uploaded, ids.size() - 1);
    EXPECT_EQ(s.stats().in_flight, 1u);
    for (int i = 0; i < 20; ++i) s.step();
    EXPECT_EQ(w.committed(group, 0), stuck_offset);
}

// Every shape that used to stop the supervisor (an nlohmann type_error out of run()) or that it cannot use is
// dead-lettered with its reason and committed; the events around them are uploaded. Base64 with line breaks
// (Python's base64.encodebytes) is accepted.
TEST(SupervisorMock, PoisonMessagesAreDeadLetteredAndTheSupervisorGoesOn) {
    MockWorld w{1};
    GraceDb client{w.standin->service_url(), {.force_noauth = true}};
    const std::string reserved = client.reserve_graceid("CBC", w.pipeline).json()["graceid"];
    const std::vector<std::string> poison = {
        "this is not JSON",
        std::string("\x00\xff\xfe{", 4),
        "[1,2,3]",
        "\"a string\"",
        R"({"type":false})",
        R"({"type":"event","graceid":"G1","gracedb_upload":"yes"})",
        R"({"type":"event","graceid":"G1","skip_supervisor":1})",
        R"({"type":"event","graceid":"G1","group":"CBC","pipeline":"gstlal","offline":"no","eventFile":["a","YQ=="]})",
        R"({"type":"event","graceid":"G1","group":"CBC","pipeline":"gstlal","eventFile":"a.xml"})",
        R"({"type":"event","graceid":"G1","group":"CBC","pipeline":"gstlal","eventFile":["a.xml",42]})",
        R"({"type":"event","graceid":"G1","group":"CBC","pipeline":"gstlal","eventFile":["a.xml","not base64!"]})",
        R"({"type":"event","graceid":"../../x","group":"CBC","pipeline":"gstlal","eventFile":["a","YQ=="]})",
        R"({"type":"event","graceid":7,"group":"CBC","pipeline":"gstlal","eventFile":["a","YQ=="]})",
        R"({"type":"event","graceid":"G1","group":{"a":1},"pipeline":"gstlal","eventFile":["a","YQ=="]})",
        R"({"type":"event","graceid":"G1","group":"CBC","pipeline":"gstlal","labels":"EM_READY","eventFile":["a","YQ=="]})",
        R"({"type":"event","graceid":")" + std::string(100000, 'G') + R"(","group":"CBC","pipeline":"gstlal","eventFile":["a","YQ=="]})",
        std::string(200000, '[') + std::string(200000, ']'),
    };
    // The event file in base64 with a line break every 76 characters and a final one (base64.encodebytes).
    const std::string contents(200, 'x');
    std::string b64;
    {
        const std::string flat = [&] {
            std::string s;
            // "xxx" is "eHh4" in base64; 200 bytes = 66 groups of 3 and 2 left ("eHg=").
            for (int i = 0; i < 66; ++i) s += "eHh4";
            return s + "eHg=";
        }();
        for (std::size_t i = 0; i < flat.size(); i += 76) b64 += flat.substr(i, 76) + "\n";
    }
    const nlohmann::json wrapped = {{"type", "event"},  {"graceid", reserved},   {"group", "CBC"},
                                    {"pipeline", w.pipeline}, {"eventFile", {"c.xml", b64}}, {"offline", false},
                                    {"labels", nlohmann::json::array()}};
    {
        auto p = w.producer();
        for (const auto& v : poison) p.produce(std::string_view{v});
        p.produce(wrapped, {.key = reserved});  // an event's key is its graceid (the topic binds the body)
        p.produce(nlohmann::json{{"type", "ping"}});
        ASSERT_EQ(p.flush(20s), 0);
    }
    const auto ids = w.submit(5);
    const std::int64_t end = static_cast<std::int64_t>(poison.size()) + 2 + 5;
    Recorder rec;
    auto o = w.options("g-poison-" + w.instance);
    o.on_event = rec.hook();
    Supervisor s{o};
    ASSERT_TRUE(step_until(s, [&] { return s.stats().uploaded == 6 && s.stats().dead_lettered == poison.size(); }))
        << "uploaded " << s.stats().uploaded << ", dead-lettered " << s.stats().dead_lettered;
    EXPECT_TRUE(step_until(s, [&] { return w.committed("g-poison-" + w.instance, 0) == end; }))
        << "committed " << w.committed("g-poison-" + w.instance, 0) << ", end " << end;
    EXPECT_EQ(s.stats().skipped, 1u) << "the ping is skipped";
    EXPECT_EQ(w.standin->event_file(reserved), contents) << "base64 with line breaks decoded byte-exact";
    for (const auto& id : ids) EXPECT_TRUE(w.standin->event(id)) << id;
    const auto dlq = w.dead_letters(poison.size());
    ASSERT_EQ(dlq.size(), poison.size());
    for (std::size_t i = 0; i < poison.size(); ++i) {
        EXPECT_EQ(dlq[i].first, poison[i]) << "the dead letter is the message as it was";
        EXPECT_FALSE(dlq[i].second.empty()) << "with its reason: message " << i;
    }
    EXPECT_EQ(dlq[0].second, "the value is not JSON");
    EXPECT_EQ(dlq[4].second, "type is a boolean, not a string");
    EXPECT_EQ(dlq[5].second, "gracedb_upload is a string, not a boolean");
    EXPECT_EQ(dlq[11].second, "graceid contains a character other than a letter or digit");
}

// Two supervisors in one group: when the second joins, the first drops the state of the partition it loses
// (its pending retry is not continued: the new owner does it), and nobody commits past the stuck events.
TEST(SupervisorMock, StateOfARevokedPartitionIsDropped) {
    MockWorld w{2};
    const auto ids = w.submit(12);
    // One stuck event per partition: the first event (by offset) of each.
    std::map<std::int32_t, std::string> stuck;
    {
        kafka::Consumer c{{.bootstrap_servers = w.bootstrap, .topics = {w.pipeline}, .instance_name = w.instance,
                           .auto_offset_reset = "earliest", .kafka_config = w.plaintext()}};
        const auto deadline = Clock::now() + 30s;
        std::size_t seen = 0;
        while (seen < ids.size() && Clock::now() < deadline) {
            auto m = c.poll(200ms);
            if (!m) continue;
            ++seen;
            if (!stuck.count(m->partition)) stuck[m->partition] = *m->key;
        }
        ASSERT_EQ(seen, ids.size());
    }
    ASSERT_EQ(stuck.size(), 2u) << "events spread over both partitions";
    for (const auto& [p, id] : stuck) w.standin->fail_next("reservations/" + id + "/upload", 503, 1000000);

    const std::string group = "g-revoke-" + w.instance;
    Recorder rec_a, rec_b;
    auto oa = w.options(group);
    oa.on_event = rec_a.hook();
    Supervisor a{oa};
    ASSERT_TRUE(step_until(a, [&] {
        return a.stats().uploaded == ids.size() - 2 && rec_a.count("retrying", stuck[0]) >= 2 &&
               rec_a.count("retrying", stuck[1]) >= 2;
    })) << "the first supervisor alone: everything but the stuck events uploaded";

    std::atomic<bool> done{false};
    std::thread ta{[&] {
        while (!done.load()) a.step();
    }};
    auto ob = w.options(group);
    ob.on_event = rec_b.hook();
    Supervisor b{ob};
    std::thread tb{[&] {
        while (!done.load()) b.step();
    }};
    // Wait until the second supervisor works on one partition's stuck event.
    std::optional<std::int32_t> moved;
    const auto deadline = Clock::now() + 90s;
    while (!moved && Clock::now() < deadline) {
        for (const auto& [p, id] : stuck)
            if (rec_b.count("retrying", id) >= 3) moved = p;
        std::this_thread::sleep_for(50ms);
    }
    if (!moved) {
        done.store(true);
        ta.join();
        tb.join();
        FAIL() << "the second supervisor never took a partition";
    }
    const auto a_on_moved = rec_a.count("retrying", stuck[*moved]);
    const auto b_on_moved = rec_b.count("retrying", stuck[*moved]);
    // B keeps retrying it; A must not (its state of that partition was dropped).
    const auto until = Clock::now() + 60s;
    while (rec_b.count("retrying", stuck[*moved]) < b_on_moved + 4 && Clock::now() < until) std::this_thread::sleep_for(50ms);
    const auto a_after = rec_a.count("retrying", stuck[*moved]);
    const auto b_after = rec_b.count("retrying", stuck[*moved]);
    done.store(true);
    ta.join();
    tb.join();
    EXPECT_GE(b_after, b_on_moved + 4) << "the new owner retries the stuck event";
    EXPECT_EQ(a_after, a_on_moved) << "the old owner stopped retrying it";
    EXPECT_GE(a.stats().dropped, 1u) << "the revoked partition's pending retry was dropped";
    for (const auto& [p, id] : stuck) {
        EXPECT_EQ(w.committed(group, p), 0) << "nothing committed past the stuck first event of partition " << p;
        EXPECT_FALSE(w.standin->event(id));
    }
}

// Commits refused by the broker and fetches that fail are logged and survived; the work completes and is
// committed once the broker recovers.
TEST(SupervisorMock, CommitAndFetchFailuresAreSurvived) {
    MockWorld w{1};
    const auto ids = w.submit(6);
    const std::string group = "g-fail-" + w.instance;
    rd_kafka_mock_push_request_errors(w.cluster, 8 /* OffsetCommit */, 3, RD_KAFKA_RESP_ERR_INVALID_COMMIT_OFFSET_SIZE,
                                      RD_KAFKA_RESP_ERR_INVALID_COMMIT_OFFSET_SIZE,
                                      RD_KAFKA_RESP_ERR_INVALID_COMMIT_OFFSET_SIZE);
    Supervisor s{w.options(group)};
    ASSERT_TRUE(step_until(s, [&] { return s.stats().uploaded == ids.size(); }));
    EXPECT_TRUE(step_until(s, [&] { return w.committed(group, 0) == static_cast<std::int64_t>(ids.size()); }))
        << "committed " << w.committed(group, 0);
    EXPECT_TRUE(step_until(s, [&] { return s.stats().commits >= 1; })) << "the confirmed commit is counted";
    EXPECT_GE(s.stats().commit_failures, 1u) << "the refused commits were seen";
    // Then fetches fail (the topic becomes unauthorized for a while): poll raises, the supervisor goes on.
    rd_kafka_mock_push_request_errors(w.cluster, 1 /* Fetch */, 4, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    const auto more = w.submit(4);
    EXPECT_TRUE(step_until(s, [&] { return s.stats().uploaded == ids.size() + more.size(); }))
        << "uploaded " << s.stats().uploaded << " after fetch failures; consumer errors " << s.stats().consumer_errors;
    EXPECT_TRUE(step_until(s, [&] { return w.committed(group, 0) == static_cast<std::int64_t>(ids.size() + more.size()); }));
    EXPECT_GE(s.stats().consumer_errors, 1u) << "the failed fetches reached poll() and were survived";
}

// The bounded latency summary: constant size, quantiles within a bucket's resolution.
TEST(SupervisorMock, LatencySummaryIsBoundedAndAccurate) {
    LatencySummary l;
    EXPECT_EQ(l.p50(), 0);
    for (int i = 1; i <= 1000; ++i) l.add(i / 1000.0);  // 1 ms .. 1 s
    EXPECT_EQ(l.count, 1000u);
    EXPECT_NEAR(l.p50(), 0.5, 0.5 * 0.1);
    EXPECT_NEAR(l.p99(), 0.99, 0.99 * 0.1);
    EXPECT_DOUBLE_EQ(l.max_s, 1.0);
    EXPECT_NEAR(l.mean(), 0.5005, 1e-9);
    for (int i = 0; i < 100000; ++i) l.add(1e6);  // beyond the last bucket
    EXPECT_DOUBLE_EQ(l.max_s, 1e6);
    EXPECT_DOUBLE_EQ(l.p99(), 1e6);
    l.add(-3);  // a producer clock ahead of ours
    l.add(std::numeric_limits<double>::quiet_NaN());
    EXPECT_EQ(l.count, 101001u);
}
