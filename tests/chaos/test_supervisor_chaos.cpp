// Chaos: 1,000 reserved events (reserved over HTTP with the library's GraceDb against a JWKS-checking stand-in,
// published over Kafka) while a broker is SIGKILLed and restarted, the supervisor PROCESS
// (`gracedb-kafka supervise`) is SIGKILLed and restarted twice, and the stand-in answers 503 to uploads for a
// while: every event is uploaded exactly once (409s for duplicates counted), none skipped, none dead-lettered.
// The pieces follow tests/integration/test_supervisor.cpp, on the replicated cluster.
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <csignal>
#include <cstdlib>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "cluster.hpp"
#include "itest.hpp"
#include "supervisor_world.hpp"

using namespace gracedb;
using namespace gracedb::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// The stand-in serves http://localhost with token checks on: this binary (and the supervisor process it runs,
// which inherits the environment) explicitly allows a token over clear text there, as the integration tests do.
[[maybe_unused]] const int kAllowTokenOverHttp = ::setenv("GRACEDB_ALLOW_TOKEN_OVER_HTTP", "1", 1);

// One isolated GraceDB instance (tests/support/supervisor_world.hpp), its topic on the cluster.
struct World : SupervisorWorld {
    World()
        : SupervisorWorld{"chaospipe", std::chrono::hours{2},
                          [](const std::string& topic, int partitions) { Cluster::get().create_topic(topic, partitions); }} {}
    std::vector<std::string> supervisor_command(const std::string& group) const {
        return SupervisorWorld::supervisor_command(GRACEDB_KAFKA_TOOL, group);
    }
};

std::string tail(const std::string& path) { return log_tail(path); }

std::size_t count_matches(const std::string& text, const std::regex& re) {
    return static_cast<std::size_t>(std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

}  // namespace

// Issue 11, item 5 (regression): when the killed broker was the supervisors' group coordinator, the session
// timed out, the next commit failed with "Unknown member" and `gracedb-kafka supervise` exited (1 run of 5,
// uploads stalled at 101 of 1000). The supervisor now logs, backs off and goes on: the test watches that the
// process never ends on its own.
TEST(SupervisorChaos, EveryEventUploadedOnceAcrossBrokerKillSupervisorKillsAnd503s) {
    const Cluster& cluster = Cluster::get();
    cluster.heal();
    const std::size_t n = 1000 * static_cast<std::size_t>(chaos_scale());
    World w;
    const Rig& rig = Rig::get();
    const std::string topic = w.instance + "." + w.pipeline;
    const std::string group = "sup-" + w.instance;
    const auto log = (w.env->dir() / "supervisor.log").string();

    // The supervisor process, restarted after each SIGKILL with the same group.
    gracedb::testing::Child sup = spawn_process(w.supervisor_command(group), w.supervisor_env(), log);
    struct Reaper {
        pid_t* pid;
        ~Reaper() {
            if (*pid > 0) {
                ::kill(*pid, SIGKILL);
                wait_process(*pid, 10s);
            }
        }
    } reaper{&sup.pid};
    Healer healer;

    // The pipeline: reserves over HTTP and publishes over Kafka, one event after another.
    std::atomic<std::size_t> submitted{0};
    std::atomic<int> rebuilds{0};  // of the pipeline's producer, after librdkafka's known fatal bug
    std::vector<std::string> ids;
    std::vector<std::string> submit_failures;
    std::atomic<bool> submit_done{false}, abandon{false};
    std::atomic<std::size_t> released{0};  // the test releases events in chunks, so faults land mid-stream
    std::thread pipeline{[&] {
        GraceDb client{w.standin->service_url()};
        const kafka::ProducerOptions options{.bootstrap_servers = rig.sasl_bootstrap,
                                             .service_url = w.standin->service_url(),
                                             .ca_cert_path = rig.ca_file,
                                             .flush_timeout = 60s};
        std::optional<kafka::Producer> p{std::in_place, options};
        for (std::size_t i = 0; i < n && !abandon.load(); ++i) {
            while (i >= released.load() && !abandon.load()) std::this_thread::sleep_for(10ms);
            if (abandon.load()) break;
            // A pipeline that keeps its producer for days checks it between events: after librdkafka's known
            // fatal idempotence bug (create_event completed that event over HTTP) it makes a new one. Any
            // other error pending here would have been raised by create_event's own publish the same way.
            try {
                p->poll(0ms);
            } catch (const std::exception& e) {
                if (!is_known_librdkafka_idempotence_bug(e)) {
                    submit_failures.push_back(std::string{"the pipeline's producer: poll() raised: "} + e.what());
                } else {
                    log_known_librdkafka_idempotence_bug("the pipeline's producer", e);
                    try {
                        p->close(30s);
                    } catch (const std::exception&) {
                    }
                    p.emplace(options);
                    ++rebuilds;
                }
            }
            try {
                auto r = client.create_event("CBC", w.pipeline, "e.xml",
                                             {.filecontents = "event " + std::to_string(i), .kafka = &*p});
                ids.push_back(r.json()["graceid"]);
            } catch (const std::exception& e) {
                submit_failures.push_back(e.what());
            }
            ++submitted;
        }
        submit_done.store(true);
    }};
    struct Joiner {
        std::thread& t;
        std::atomic<bool>& abandon;
        ~Joiner() {
            abandon.store(true);  // reached only early, by a failed assertion
            if (t.joinable()) t.join();
        }
    } joiner{pipeline, abandon};

    auto at = [&](double fraction) {
        const auto target = static_cast<std::size_t>(fraction * static_cast<double>(n));
        bool ok = false;
        for (const auto until = Clock::now() + 300s; !ok && Clock::now() < until;) {
            ok = w.wait_uploads(target, 1s);
            if (const int st = sup.pid > 0 ? wait_process(sup.pid, 0ms) : -1; st != -1) {  // a service must not end on its own
                sup.pid = -1;
                ADD_FAILURE() << "the supervisor exited with status " << st << " after " << w.standin->uploads()
                              << " uploads\n" << tail(log);
                return false;
            }
        }
        EXPECT_TRUE(ok) << "uploads stalled at " << w.standin->uploads() << " (waiting for " << target << ")\n"
                        << tail(log);
        return ok;
    };
    auto kill_supervisor = [&](int which) {
        chaos_log("SIGKILL supervisor " + std::to_string(which) + " (pid " + std::to_string(sup.pid) + ") after " +
                  std::to_string(w.standin->uploads()) + " uploads");
        ::kill(sup.pid, SIGKILL);
        wait_process(sup.pid, 10s);
        sup = spawn_process(w.supervisor_command(group), w.supervisor_env(), log);
    };

    auto release = [&](double upto) {
        released.store(std::min(n, static_cast<std::size_t>(upto * static_cast<double>(n))));
    };

    // 1. A broker: the coordinator of the supervisors' group (commits), else the leader of partition 0.
    release(0.10);
    if (!at(0.10)) return;
    int node = cluster.coordinator(group);
    if (node < 1) node = cluster.wait_leader(topic, 0, -1, 30s);
    ASSERT_GE(node, 1);
    chaos_log("SIGKILL node " + std::to_string(node) + " (coordinator of " + group + " or a leader) after " +
              std::to_string(w.standin->uploads()) + " uploads, " + std::to_string(submitted.load()) + " submitted");
    cluster.kill(node);
    release(0.25);  // submitted and uploaded with a node down
    EXPECT_GE(cluster.wait_leader(topic, 0, node, 90s), 1);
    if (!at(0.20)) return;
    cluster.start(node);
    ASSERT_TRUE(cluster.wait_fully_in_sync(topic, 120s));
    chaos_log("node " + std::to_string(node) + " back and in sync; uploads " + std::to_string(w.standin->uploads()));

    // 2. The supervisor, twice, with the stand-in refusing uploads with 503 in between.
    release(0.45);
    if (!at(0.30)) return;
    kill_supervisor(1);
    // Spread over 4 partitions, each backing off 0.5, 1, 2, 4 s...: a while, not minutes.
    const int refusals = 16;
    chaos_log("the stand-in answers 503 to the next " + std::to_string(refusals) + " uploads");
    w.standin->fail_next("/upload", 503, refusals);
    release(0.60);
    if (!at(0.50)) return;
    release(0.80);
    if (!at(0.65)) return;
    kill_supervisor(2);
    release(1.0);

    const bool all = w.wait_uploads(n, 300s);
    const auto t_wait = Clock::now();
    while (!submit_done.load() && Clock::now() - t_wait < 120s) std::this_thread::sleep_for(100ms);
    pipeline.join();
    // A straggler (a duplicate redelivered after the last kill) shows up as a 409 shortly after.
    std::this_thread::sleep_for(2s);
    ::kill(sup.pid, SIGTERM);
    const int status = wait_process(sup.pid, 30s);
    sup.pid = -1;
    const std::string text = read_file(log);
    const auto skipped = count_matches(text, std::regex{R"( skipped \()"});
    const auto dead = count_matches(text, std::regex{R"( dead-lettered \()"});
    const auto retrying = count_matches(text, std::regex{R"( retrying \()"});
    const std::string dlq_topic = "gracedb-deadletter." + w.instance;
    const auto dlq = cluster.topic_exists(dlq_topic) ? cluster.read_all(dlq_topic) : std::vector<RawMessage>{};
    std::ostringstream fig;
    fig << "supervisor chaos: " << n << " events submitted (" << submit_failures.size()
        << " submissions failed); broker kills survived 1, supervisor SIGKILLs survived 2, 503s served " << refusals
        << "; stand-in: events " << w.standin->event_count() << ", uploads " << w.standin->uploads()
        << ", duplicates refused with 409: " << w.standin->duplicate_uploads() << "; supervisor logs: skipped "
        << skipped << ", dead-lettered " << dead << ", retries " << retrying << "; dead-letter topic: " << dlq.size()
        << " messages; pipeline producer rebuilt after librdkafka's known fatal idempotence bug: " << rebuilds.load();
    chaos_log(fig.str());
    for (std::size_t i = 0; i < submit_failures.size() && i < 5; ++i) chaos_log("submission failed: " + submit_failures[i]);
    {  // what was dead-lettered, and why (the supervisor's own lines)
        std::istringstream lines{text};
        int shown = 0;
        for (std::string line; std::getline(lines, line) && shown < 5;)
            if (line.find(" dead-lettered (") != std::string::npos || line.find("dead-letter delivery failed") != std::string::npos) {
                chaos_log("supervisor: " + line);
                ++shown;
            }
    }

    EXPECT_EQ(status, 0) << "SIGTERM drains and exits cleanly\n" << tail(log);
    ASSERT_TRUE(all) << "uploaded " << w.standin->uploads() << " of " << n << "\n" << tail(log);
    EXPECT_TRUE(submit_failures.empty()) << submit_failures.front();
    EXPECT_LE(rebuilds.load(), 1) << "librdkafka's known bug at most once for the one broker kill";
    EXPECT_EQ(ids.size(), n);
    EXPECT_EQ(w.standin->event_count(), n);
    EXPECT_EQ(w.standin->uploads(), n) << "each event uploaded exactly once";
    std::size_t missing = 0;
    for (const auto& id : ids) missing += w.standin->event(id) ? 0 : 1;
    EXPECT_EQ(missing, 0u);
    EXPECT_EQ(w.standin->alerts().size(), n) << "one \"new\" alert per event";
    EXPECT_EQ(skipped, 0u);
    EXPECT_EQ(dead, 0u);
    EXPECT_TRUE(dlq.empty());
    EXPECT_GE(retrying, 1u) << "the 503s were seen and retried";
}
