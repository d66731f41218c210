// The outbox's kill test (issue 22, point 2): a publishing process (tests/support/outbox_publisher.cpp)
// SIGKILLed at random moments, GRACEDB_OUTBOX_KILLS times (default 200), then resumed. The GraceDB stand-in, the
// mock Kafka cluster and a supervisor live in this process, so they survive the kills. With the outbox: every
// reserved graceid ends uploaded exactly once, except reservations the outbox says may be unknown (the window
// between GraceDB answering a reservation and the journal recording it, which no client can close); every
// journaled event exists exactly once. Without the outbox, the same run prints how many reservations were
// orphaned and how many asked-for events are missing.
#include <gracedb/kafka.hpp>
#include <gracedb/log.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/supervisor.hpp>
#include <gracedb/testing.hpp>

#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

int kills_from_env() {
    const char* v = std::getenv("GRACEDB_OUTBOX_KILLS");
    return v && std::atoi(v) > 0 ? std::atoi(v) : 200;
}

// Stand-in (with a store file that lists every reservation), mock cluster and supervisor, in this process.
struct World {
    fs::path dir;
    std::unique_ptr<gracedb::testing::MockCluster> cluster;
    std::unique_ptr<gracedb::StandIn> standin;
    std::unique_ptr<gracedb::Supervisor> supervisor;
    std::mutex mutex;
    std::map<std::string, int> alerts;  // "new" alerts (creations and uploads) per graceid
    std::atomic<bool> stop{false};
    std::thread thread;

    explicit World(const fs::path& d) : dir{d} {
        fs::create_directories(dir);
        cluster = std::make_unique<gracedb::testing::MockCluster>(1);
        cluster->create_topic("localhost.test", 4);
        gracedb::StandInOptions so{.url_host = "localhost"};
        so.store_file = (dir / "standin.json").string();
        so.upload_latency = 10ms;  // a reserved upload takes a while, like the real server's
        so.on_alert = [this](const nlohmann::json& alert) {
            std::lock_guard lock{mutex};
            ++alerts[alert.value("uid", "")];
        };
        standin = std::make_unique<gracedb::StandIn>(std::move(so));
        supervisor = std::make_unique<gracedb::Supervisor>(gracedb::SupervisorOptions{
            .consumer = {.bootstrap_servers = cluster->bootstrap_servers(),
                         .instance_name = "localhost",
                         .kafka_config = {{"security.protocol", "plaintext"}, {"fetch.wait.max.ms", "5"}}},
            .service_url = standin->service_url(),
            .rest = {.force_noauth = true},
            .poll_timeout = 100ms,
            .handle_signals = false});
        thread = std::thread{[this] {
            while (!stop.load()) supervisor->step();
        }};
    }
    ~World() {
        stop.store(true);
        thread.join();
    }
    // graceid -> uploaded, from the stand-in's store.
    std::map<std::string, bool> reservations() const {
        std::ifstream in{dir / "standin.json"};
        const auto all = nlohmann::json::parse(in);
        std::map<std::string, bool> out;
        for (const auto& [id, r] : all.value("reservations", nlohmann::json::object()).items())
            out[id] = r.value("uploaded", false);
        return out;
    }
};

// Runs the publisher once and SIGKILLs it a random time after it started; returns the tags it asked for.
std::vector<std::string> run_and_kill(const World& w, const std::string& outbox, const std::string& tag,
                                      std::chrono::microseconds delay) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    const std::string url = w.standin->service_url(), bs = w.cluster->bootstrap_servers();
    std::vector<std::string> args = {GRACEDB_OUTBOX_PUBLISHER, url, bs, outbox, tag};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) throw std::runtime_error("spawn");
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    // The kill's moment counts from the child's "ready" (its start), read as soon as it is written.
    while (out.find("ready\n") == std::string::npos) {
        const auto n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    std::this_thread::sleep_for(delay);  // the random moment (not a synchronisation)
    ::kill(pid, SIGKILL);
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
        throw std::runtime_error("the publisher ended by itself (status " + std::to_string(status) +
                                 ") before the kill: " + out);
    std::vector<std::string> asked;
    std::size_t pos = 0;
    while ((pos = out.find("asked ", pos)) != std::string::npos) {
        const auto end = out.find('\n', pos);
        if (end == std::string::npos) break;  // a line cut by the kill: never sent
        asked.push_back(out.substr(pos + 6, end - pos - 6));
        pos = end;
    }
    return asked;
}

struct Figures {
    int kills = 0;
    std::size_t asked = 0, reservations = 0, orphaned = 0, events = 0, missing = 0, duplicated = 0;
    double seconds = 0;
};

// The kills, then (with an outbox) one resume; waits until every journaled (or, without an outbox, every
// asked-for) event that can still arrive has arrived, and counts.
Figures run_phase(World& w, const std::string& outbox, int kills, unsigned seed) {
    Figures f;
    f.kills = kills;
    const auto start = std::chrono::steady_clock::now();
    std::mt19937 rng{seed};
    std::uniform_int_distribution<int> moment_us{0, 120000};  // start-up, resume, then several create_events
    std::set<std::string> asked;
    for (int k = 0; k < kills; ++k) {
        const auto tags = run_and_kill(w, outbox, "k" + std::to_string(k), std::chrono::microseconds{moment_us(rng)});
        asked.insert(tags.begin(), tags.end());
    }
    f.asked = asked.size();
    // Everything the supervisor can still upload has been acknowledged by Kafka before the kill: wait until
    // the stand-in's reservations stop changing state (bounded), then count.
    auto uploaded_count = [&] {
        std::size_t n = 0;
        for (const auto& [id, up] : w.reservations()) n += up ? 1 : 0;
        return n;
    };
    auto settle = [&] {
        std::size_t last = uploaded_count();
        for (int quiet = 0, i = 0; quiet < 10 && i < 600; ++i) {  // 1 s without change, at most 60 s
            std::this_thread::sleep_for(100ms);
            const auto now = uploaded_count();
            quiet = now == last ? quiet + 1 : 0;
            last = now;
        }
    };
    settle();
    f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto res = w.reservations();
    f.reservations = res.size();
    for (const auto& [id, up] : res) f.orphaned += up ? 0 : 1;
    // Events by the tag in their file: each asked-for tag at most once; without a graceid's alert count 1.
    std::map<std::string, int> by_tag;
    for (const auto& [id, up] : res) {
        if (!up) continue;
        const auto file = w.standin->event_file(id);
        if (!file) continue;
        const auto a = file->find("tag='"), b = file->rfind('\'');
        ++by_tag[file->substr(a + 5, b - a - 5)];
    }
    f.events = by_tag.size();
    for (const auto& [tag, n] : by_tag) f.duplicated += n > 1 ? static_cast<std::size_t>(n - 1) : 0;
    for (const auto& tag : asked) f.missing += by_tag.count(tag) ? 0 : 1;
    return f;
}

void print(const char* what, const Figures& f) {
    std::cout << "[outbox kill] " << what << ": " << f.kills << " kills, " << f.asked << " events asked for, "
              << f.reservations << " reservations, " << f.events << " distinct events uploaded, " << f.orphaned
              << " reservations orphaned, " << f.missing << " asked-for events missing (not accepted, or lost), "
              << f.duplicated << " duplicated, " << f.seconds << " s" << std::endl;
}

TEST(OutboxKill, EveryAcceptedEventExistsOnceAndEveryKnownReservationIsUploaded) {
    gracedb::set_log_level(gracedb::LogLevel::error);
    const fs::path root = fs::temp_directory_path() / ("outbox-kill-" + std::to_string(::getpid()));
    const int kills = kills_from_env();
    const auto seed = std::random_device{}();
    std::cout << "[outbox kill] seed " << seed << std::endl;

    {  // Without the outbox: what a crash costs (printed, to show what the assertions below would catch).
        World w{root / "plain"};
        print("without outbox", run_phase(w, "-", kills, seed));
    }

    World w{root / "outbox"};
    const std::string outbox = (root / "outbox" / "journal").string();
    Figures f = run_phase(w, outbox, kills, seed);
    // The last run was killed too: one more client with the outbox completes what it left.
    gracedb::GraceDb client{w.standin->service_url(),
                            {.force_noauth = true, .outbox = outbox, .resume_outbox_on_start = false}};
    const auto resumed = client.resume_outbox();
    std::cout << "[outbox kill] final resume: " << resumed.completed << " completed, " << resumed.failed
              << " failed, " << resumed.busy << " busy" << std::endl;
    for (const auto& e : resumed.errors) ADD_FAILURE() << e;
    f = run_phase(w, outbox, 0, seed);  // settle and count again (no kills)
    f.kills = kills;
    const auto entries = gracedb::read_outbox(outbox);
    std::size_t flagged = 0, unknown = 0;
    std::set<std::string> graceids;
    for (const auto& e : entries) {
        EXPECT_TRUE(e.state == "acknowledged" || e.state == "completed") << "entry " << e.id << ": " << e.state;
        ASSERT_TRUE(e.graceid) << "entry " << e.id;
        EXPECT_TRUE(graceids.insert(*e.graceid).second) << *e.graceid << " journaled twice";
        flagged += e.may_hold_unknown_reservation() ? 1 : 0;
        unknown += static_cast<std::size_t>(e.unknown_reservations);
    }
    print("with outbox", f);
    std::cout << "[outbox kill] with outbox: " << entries.size() << " events journaled (accepted), " << flagged
              << " entries may hold an unknown reservation (" << unknown << " attempts), " << f.orphaned
              << " reservations orphaned" << std::endl;
    const auto res = w.reservations();
    for (const auto& id : graceids) {
        ASSERT_TRUE(res.count(id)) << id;
        EXPECT_TRUE(res.at(id)) << id << " (journaled) was never uploaded";
    }
    // Every orphaned reservation is one of the window's, which the outbox counted.
    EXPECT_LE(f.orphaned, unknown);
    EXPECT_EQ(f.duplicated, 0u);
    EXPECT_EQ(f.events, entries.size());  // every journaled event exists, once; nothing else was created
    {
        std::lock_guard lock{w.mutex};
        for (const auto& [id, n] : w.alerts) EXPECT_EQ(n, 1) << id << " created " << n << " times";
        EXPECT_EQ(w.alerts.size(), entries.size());
    }
    fs::remove_all(root);
}

}  // namespace
