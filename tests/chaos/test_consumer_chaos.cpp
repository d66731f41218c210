// Chaos: a follower with a stable consumer group (`gracedb-kafka listen -g <group>`, a child process writing one
// JSON line per message) is SIGKILLed mid-stream and restarted, twice, while a producer keeps publishing; a broker
// is SIGKILLed and restarted in between. Nothing is skipped: every message delivered to the topic is printed at
// least once. Duplicates (re-read after a kill: at-least-once) are counted and printed.
#include <gracedb/kafka.hpp>
#include <gracedb/log.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "cluster.hpp"
#include "log_keeper.hpp"
#include "itest.hpp"

using namespace gracedb;
using namespace gracedb::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Printed {
    std::map<long, int> copies;  // seq -> times printed
    long lines = 0, partial = 0;
};

// Reads the listeners' output: one JSON line per message; a line cut by SIGKILL is counted as partial.
Printed read_output(const std::string& path) {
    Printed out;
    std::ifstream in{path};
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line.front() != '{') continue;  // the tool's own error lines, if any
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.contains("value") || !j["value"].is_object()) {
            ++out.partial;
            continue;
        }
        ++out.lines;
        ++out.copies[j["value"]["seq"].get<long>()];
    }
    return out;
}

}  // namespace

// The whole scenario; `check_clean_stop_commit`: also require the last follower, stopped by SIGTERM, to have
// committed everything it printed.
static void follower_chaos(bool check_clean_stop_commit) {
    // The producer's log kept (librdkafka's idempotence and topic contexts on), printed if it stalls: seen twice
    // in full runs (never alone), the producer delivered 5 messages in its first 0.2 s, then nothing at all for
    // 120 s, with no warning.
    LogKeeper log;
    const Cluster& cluster = Cluster::get();
    cluster.heal();
    const Rig& rig = Rig::get();
    const long n = 3000L * chaos_scale();
    const std::string pipeline = unique_name("chaos-consumer");
    const std::string topic = "rig." + pipeline;
    const std::string group = unique_name("chaos-follower");
    cluster.create_topic(topic, 3);
    TokenEnv env;
    env.write_token({}, 2h);
    const auto out_path = (env.dir() / "listen.out").string();
    const std::vector<std::string> listen = {GRACEDB_KAFKA_TOOL, "listen", "-b", rig.sasl_bootstrap, "--ca-cert",
                                             rig.ca_file, "--instance", "rig", "-t", pipeline, "-g", group,
                                             "--from-beginning", "-X", "session.timeout.ms=6000",
                                             "-X", "heartbeat.interval.ms=500",
                                             // A topic just made on a 3-node cluster may not be known yet to
                                             // the broker a follower asks first: it is then assigned nothing
                                             // until its next metadata refresh (5 min by default; seen once:
                                             // "assigned 0 partition(s)", nothing printed in 120 s).
                                             "-X", "topic.metadata.refresh.interval.ms=1000"};
    const std::map<std::string, std::string> listen_env = {{"GRACEDB_LOG_LEVEL", "info"}};
    Child follower = spawn_process(listen, listen_env, out_path);
    struct Reaper {
        pid_t* pid;
        ~Reaper() {
            if (*pid > 0) {
                ::kill(*pid, SIGKILL);
                wait_process(*pid, 10s);
            }
        }
    } reaper{&follower.pid};

    // The producer: ~100 messages/s (for ~30 s at the default scale: the faults land mid-stream), keyed, each a JSON object with its sequence number.
    std::atomic<long> delivered{0}, failed{0};
    std::atomic<bool> abandon{false};
    std::atomic<long> produced{0};
    std::atomic<std::uint64_t> heals{0};
    std::mutex producer_mutex;  // guards producer_error and first_failure (read by the diagnostics below)
    std::string producer_error, first_failure;
    // Each message's outcome, written by on_delivery on the producer thread, read after it was joined.
    enum class Outcome : char { none, ok, by_heal, other_failure };
    std::vector<Outcome> outcomes(static_cast<std::size_t>(n), Outcome::none);
    const auto producer_start = Clock::now();
    std::thread producer_thread{[&] {
        try {
            kafka::ProducerOptions o{.bootstrap_servers = rig.sasl_bootstrap, .topic = pipeline,
                                     .instance_name = "rig", .ca_cert_path = rig.ca_file, .flush_timeout = 120s};
            // librdkafka's debug contexts for this producer, kept by `log` (GRACEDB_CHAOS_PRODUCER_DEBUG: others).
            const char* debug = std::getenv("GRACEDB_CHAOS_PRODUCER_DEBUG");
            o.kafka_config["debug"] = debug ? debug : "eos,topic";
            // Failures reported inside one call of ours (the heal runs in the call that meets the fatal error,
            // and serves the old handle's reports there): a heal's if the heal count grew during that call.
            // Declared before the producer: its destructor may still report.
            std::vector<long> failed_in_call;
            std::uint64_t heals_before = 0;
            kafka::Producer p{std::move(o)};
            auto after_call = [&] {
                const auto h = p.heal_count();
                if (h > heals_before)
                    for (const long f : failed_in_call) outcomes[static_cast<std::size_t>(f)] = Outcome::by_heal;
                failed_in_call.clear();
                heals_before = h;
                heals = h;
            };
            auto next = Clock::now();
            for (long seq = 0; seq < n && !abandon.load(); ++seq) {
                p.produce(nlohmann::json{{"seq", seq}},
                          {.key = "k" + std::to_string(seq % 8), .on_delivery = [&, seq](const kafka::DeliveryReport& r) {
                               auto& outcome = outcomes[static_cast<std::size_t>(seq)];
                               if (!r.error) {
                                   outcome = Outcome::ok;
                                   ++delivered;
                                   return;
                               }
                               // librdkafka's fatal idempotence error itself (answered before the heal), or
                               // reported by a heal (decided by after_call).
                               outcome = r.rdkafka_error == "OUT_OF_ORDER_SEQUENCE_NUMBER" ||
                                                 r.rdkafka_error == "_FATAL"
                                             ? Outcome::by_heal
                                             : Outcome::other_failure;
                               failed_in_call.push_back(seq);
                               if (++failed == 1) {
                                   std::lock_guard lock{producer_mutex};
                                   first_failure = *r.error + " [" + r.rdkafka_error + "] (after " +
                                                   std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                      Clock::now() - producer_start).count()) + " ms)";
                               }
                           }});
                after_call();
                ++produced;
                p.poll(0ms);
                after_call();
                next += 10ms;
                if (next < Clock::now() - 200ms) next = Clock::now();
                std::this_thread::sleep_until(next);
            }
            p.flush(120s);
            after_call();
        } catch (const std::exception& e) {
            std::lock_guard lock{producer_mutex};
            producer_error = e.what() + std::string{" (after "} +
                             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                Clock::now() - producer_start).count()) + " ms)";
        }
    }};
    struct Joiner {
        std::thread& t;
        std::atomic<bool>& abandon;
        ~Joiner() {
            abandon.store(true);
            if (t.joinable()) t.join();
        }
    } joiner{producer_thread, abandon};
    Healer healer;

    // Waits until `distinct` different messages were printed.
    auto wait_printed = [&](long distinct, std::chrono::seconds timeout) {
        const auto deadline = Clock::now() + timeout;
        auto count = [&] { return static_cast<long>(read_output(out_path).copies.size()); };
        while (count() < distinct && Clock::now() < deadline) {
            if (const int st = wait_process(follower.pid, 0ms); st != -1) {
                ADD_FAILURE() << "the follower exited with status " << st;
                follower.pid = -1;
                return false;
            }
            std::this_thread::sleep_for(250ms);
        }
        if (count() >= distinct) return true;
        // Which side stalled: the producer (deliveries), the cluster (leaders, ISRs), or the follower.
        std::string state;
        try {
            for (const auto& [p, st] : cluster.partitions(topic)) {
                state += " [" + std::to_string(p) + "] leader " + std::to_string(st.leader) + " isr";
                for (const auto r : st.isr) state += " " + std::to_string(r);
            }
        } catch (const std::exception& e) {
            state = std::string{" unknown ("} + e.what() + ")";
        }
        std::lock_guard lock{producer_mutex};
        ADD_FAILURE() << "after " << timeout.count() << " s: " << count() << " distinct printed of " << distinct
                      << " awaited; the producer: " << produced.load() << " produced, " << delivered.load()
                      << " delivered, " << failed.load() << " failed (the first: "
                      << (first_failure.empty() ? "none" : first_failure) << "), " << heals.load()
                      << " heal(s), its error: " << (producer_error.empty() ? "none" : producer_error)
                      << "; the topic:" << state << "\nthe producer's state (its log, seconds since the test began):\n"
                      << log.producer_state(150);
        return false;
    };
    // The followers log "assigned N partition(s)" (info level) once they are in the group: a follower that is
    // still starting has no signal handlers yet, and SIGTERM would kill it like SIGKILL.
    auto assignments = [&] {
        const std::string text = read_file(out_path);
        std::size_t k = 0;
        for (auto pos = text.find(": assigned "); pos != std::string::npos; pos = text.find(": assigned ", pos + 1)) ++k;
        return k;
    };
    std::size_t assigned_before_restart = 0;
    std::size_t last_follower_from = 0;  // where the latest follower's output begins in the file
    std::vector<std::size_t> restarts;   // where each restarted follower's output begins
    auto committed_text = [&] {
        std::string t;
        for (const auto& [p, o] : cluster.committed(group, topic)) t += " [" + std::to_string(p) + "]@" + std::to_string(o);
        return t;
    };
    auto kill_follower = [&](int which) {
        chaos_log("SIGKILL follower " + std::to_string(which) + " (pid " + std::to_string(follower.pid) + ") after " +
                  std::to_string(read_output(out_path).lines) + " lines printed, " + std::to_string(delivered.load()) +
                  " delivered; the group's committed offsets:" + committed_text());
        ::kill(follower.pid, SIGKILL);
        wait_process(follower.pid, 10s);
        assigned_before_restart = assignments();
        last_follower_from = read_file(out_path).size();
        restarts.push_back(last_follower_from);
        follower = spawn_process(listen, listen_env, out_path);
    };

    ASSERT_TRUE(wait_printed(n / 4, 120s)) << "the follower printed " << read_output(out_path).lines << "\n"
                                           << read_file(out_path).substr(0, 2000);
    kill_follower(1);
    ASSERT_TRUE(wait_printed(n / 2, 120s));
    const int node = cluster.coordinator(group) >= 1 ? cluster.coordinator(group) : cluster.wait_leader(topic, 0, -1, 30s);
    ASSERT_GE(node, 1);
    chaos_log("SIGKILL node " + std::to_string(node) + " (the group's coordinator, or a leader); the group's "
              "committed offsets:" + committed_text());
    cluster.kill(node);
    EXPECT_GE(cluster.wait_leader(topic, 0, node, 90s), 1);
    cluster.start(node);
    EXPECT_TRUE(cluster.wait_fully_in_sync(topic, 120s));
    ASSERT_TRUE(wait_printed(3 * n / 4, 120s));
    kill_follower(2);

    producer_thread.join();
    ASSERT_TRUE(producer_error.empty()) << producer_error;
    // What the topic holds: the delivered messages, and any reported failed that were written anyway (a heal
    // purges requests already sent: failed, possibly persisted). Read independently of the library.
    std::set<long> in_topic;
    std::int64_t in_topic_messages = 0;  // with any written twice
    for (const auto& m : cluster.read_all(topic)) {
        ++in_topic_messages;
        const auto j = nlohmann::json::parse(m.value, nullptr, false);
        if (!j.is_discarded() && j.contains("seq")) in_topic.insert(j["seq"].get<long>());
    }
    // Wait until every message of the topic was printed (or the deadline: then something was skipped).
    const auto deadline = Clock::now() + 120s;
    Printed printed;
    while (Clock::now() < deadline) {
        printed = read_output(out_path);
        if (printed.copies.size() >= in_topic.size()) break;
        std::this_thread::sleep_for(200ms);
    }
    // The last follower must be in the group (its handlers installed) before SIGTERM.
    for (const auto until = Clock::now() + 60s; assignments() <= assigned_before_restart && Clock::now() < until;)
        std::this_thread::sleep_for(200ms);
    // And it must have printed everything itself (its predecessors printed it first; it resumes from the group's
    // committed offsets, which may be older): the last offset of every partition, after its start.
    auto last_offsets = [&](std::size_t from) {
        std::map<std::int32_t, std::int64_t> last;
        std::istringstream lines{read_file(out_path).substr(from)};
        for (std::string line; std::getline(lines, line);) {
            if (line.empty() || line.front() != '{') continue;
            auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_discarded() || !j.contains("partition") || !j.contains("offset")) continue;
            auto& o = last[j["partition"].get<std::int32_t>()];
            o = std::max(o, j["offset"].get<std::int64_t>());
        }
        return last;
    };
    const auto ends = last_offsets(0);
    bool caught_up = false;
    for (const auto until = Clock::now() + 120s; !caught_up && Clock::now() < until;) {
        const auto mine = last_offsets(last_follower_from);
        caught_up = true;
        for (const auto& [p, o] : ends)
            if (!mine.contains(p) || mine.at(p) < o) caught_up = false;
        if (!caught_up) std::this_thread::sleep_for(200ms);
    }
    EXPECT_TRUE(caught_up) << "the last follower did not print every partition to its end within 120 s";
    ::kill(follower.pid, SIGTERM);
    const int status = wait_process(follower.pid, 30s);
    follower.pid = -1;
    // A clean stop leaves the group committing what was printed: a restart would resume at the end.
    std::int64_t committed_total = 0;
    const auto committed_at_end = cluster.committed(group, topic);
    for (const auto& [p, o] : committed_at_end) committed_total += o > 0 ? o : 0;
    chaos_log("the group's committed offsets after SIGTERM:" + committed_text());
    printed = read_output(out_path);
    const std::string output = read_file(out_path);
    std::size_t commit_failures = 0;
    for (const char* mark : {"COMMITFAIL", ": commit of "})
        for (auto pos = output.find(mark); pos != std::string::npos; pos = output.find(mark, pos + 1))
            ++commit_failures;
    // Re-read after each kill: lines a restarted follower printed (before the next restart) whose message had
    // been printed before it started (what its predecessor handed over but the group had not committed).
    auto seqs_in = [&](std::size_t from, std::size_t to) {
        std::vector<long> seqs;
        std::istringstream lines{output.substr(from, to - from)};
        for (std::string line; std::getline(lines, line);) {
            if (line.empty() || line.front() != '{') continue;
            auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_discarded() || !j.contains("value") || !j["value"].is_object()) continue;
            if (j["value"].contains("seq")) seqs.push_back(j["value"]["seq"].get<long>());
        }
        return seqs;
    };
    std::vector<long> rereads;
    for (std::size_t k = 0; k < restarts.size(); ++k) {
        const auto before = seqs_in(0, restarts[k]);
        const std::set<long> seen{before.begin(), before.end()};
        long again = 0;
        for (long s : seqs_in(restarts[k], k + 1 < restarts.size() ? restarts[k + 1] : output.size()))
            again += seen.count(s) ? 1 : 0;
        rereads.push_back(again);
    }
    {  // The followers' own account of the group (evidence when commits stall), transport noise left out.
        std::istringstream lines{output};
        std::string group_log;
        for (std::string line; std::getline(lines, line);)
            if (!line.empty() && line.front() != '{' && line.find("_TRANSPORT") == std::string::npos &&
                line.find("librdkafka FAIL") == std::string::npos && group_log.size() < 6000)
                group_log += "  " + line + "\n";
        if (committed_total != in_topic_messages)
            chaos_log("the followers' log (JSON lines and transport errors left out):\n" + group_log);
    }

    long skipped = 0, duplicates = 0;
    for (const long seq : in_topic) {
        auto it = printed.copies.find(seq);
        if (it == printed.copies.end()) ++skipped;
        else duplicates += it->second - 1;
    }
    std::ostringstream fig;
    fig << "consumer chaos: produced " << n << ", delivered " << delivered << ", failed " << failed << " (producer heals "
        << heals.load() << "), in the topic " << in_topic.size()
        << "; follower SIGKILLs survived 2, broker kills survived 1; printed " << printed.lines << " lines ("
        << printed.copies.size() << " distinct), skipped " << skipped << ", duplicates " << duplicates
        << ", lines cut by a kill " << printed.partial << "; commit failures logged by the followers "
        << commit_failures << "; re-read after each follower kill:";
    for (long r : rereads) fig << " " << r;
    chaos_log(fig.str());
    EXPECT_EQ(status, 0) << "SIGTERM ends the follower cleanly";
    // The producer's side: every message reported, each delivered one in the topic, none written twice. A
    // failure is accepted only from a heal of librdkafka 2.0.2's fatal idempotence error after a failover (its
    // issue #3584; the producer reports what the old handle held as failed, inside the call that healed, or
    // librdkafka with the fatal error's code): the follower must then print what the topic holds, checked here.
    long unreported = 0, delivered_missing = 0, failed_by_heal = 0, failed_otherwise = 0;
    for (long seq = 0; seq < n; ++seq) switch (outcomes[static_cast<std::size_t>(seq)]) {
        case Outcome::none: ++unreported; break;
        case Outcome::ok: delivered_missing += in_topic.contains(seq) ? 0 : 1; break;
        case Outcome::by_heal: ++failed_by_heal; break;
        case Outcome::other_failure: ++failed_otherwise; break;
    }
    EXPECT_EQ(unreported, 0) << "every message gets a delivery report";
    EXPECT_EQ(delivered_missing, 0) << "a message reported delivered is in the topic";
    EXPECT_EQ(in_topic_messages, static_cast<std::int64_t>(in_topic.size())) << "no message written twice";
    EXPECT_EQ(failed_otherwise, 0) << "a failure other than a heal's; the first failure: " << first_failure;
    if (heals.load() == 0) {
        EXPECT_EQ(failed_by_heal, 0) << "the first failure: " << first_failure;
    }
    if (failed_by_heal > 0)
        chaos_log("librdkafka's known fatal idempotence error met and healed by the producer (" +
                  std::to_string(heals.load()) + " heal(s)): " + std::to_string(failed_by_heal) +
                  " message(s) reported failed (the first: " + first_failure + ")");
    EXPECT_EQ(skipped, 0) << "a follower with a stable group resumes where it was: nothing skipped";
    // Commits keep up (issue 22): a kill costs what was handed over since the last commit, not the whole run.
    // One auto-commit interval (librdkafka's default 5 s) of the ~100 messages/s stream is ~500 messages; the
    // second kill comes soon after the coordinator failover, when the group's commits lag most (seen: 850 and
    // 1,492 re-read; the frozen offsets of issue 22 made the next follower re-read ~2,800).
    constexpr long kIntervalWorth = 5 * 100;
    for (std::size_t k = 0; k < rereads.size(); ++k)
        EXPECT_LE(rereads[k], 4 * kIntervalWorth) << "re-read after follower kill " << k + 1
                                                  << ": the group's committed offsets did not keep up";
    if (check_clean_stop_commit) {
        EXPECT_EQ(committed_total, in_topic_messages)
            << "SIGTERM: the follower commits everything it printed before it leaves";
        for (const auto& [p, o] : ends) {
            const auto it = committed_at_end.find(p);
            EXPECT_TRUE(it != committed_at_end.end() && it->second == o + 1)
                << "partition " << p << ": printed up to offset " << o << ", committed "
                << (it == committed_at_end.end() ? std::string{"nothing"} : std::to_string(it->second));
        }
    }
}


TEST(ConsumerChaos, StableGroupSigkilledTwiceSkipsNothing) { follower_chaos(false); }

// Regression (2 failing runs of 10): the last follower, started after a SIGKILLed predecessor and a group-
// coordinator failover, printed everything and exited 0 on SIGTERM, yet the group's committed offsets stayed
// those of the FIRST follower, so a restart replayed everything. The followers after the failover were fenced
// ("Unknown member") or met a rebalance, and librdkafka 2.0.2 drops a failed commit at close. Consumer::close()
// now commits what was handed over itself, retrying retriable errors within its timeout (unit tests:
// ConsumerMock.CloseCommits*).
TEST(ConsumerChaos, CleanStopAfterCoordinatorFailoverCommitsWhatWasPrinted) { follower_chaos(true); }
