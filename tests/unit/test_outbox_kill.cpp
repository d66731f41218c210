// The outbox's kill test (issue 22, point 2): a publishing process (tests/support/outbox_publisher.cpp)
// SIGKILLed at random moments, GRACEDB_OUTBOX_KILLS times (default 200), then resumed. The GraceDB stand-in,
// the mock Kafka cluster and a supervisor live in this process, so they survive the kills. With the outbox:
// every reserved graceid ends uploaded exactly once, except reservations the outbox says may be unknown (the
// window between GraceDB answering a reservation and the journal recording it, which no client can close);
// every journaled event exists exactly once. Without the outbox, the same run prints how many reservations
// were orphaned and how many asked-for events are missing.
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
        cluster->create_topic("localhost.test", 1);  // one partition: a last event comes after all
        gracedb::StandInOptions so{.url_host = "localhost"};
        so.store_file = (dir / "standin.json").string();
        so.upload_latency = 2ms;  // a reserved upload takes a while, like the real server's
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
        if (!all.contains("reservations")) return out;
        for (const auto& [id, r] : all.at("reservations").items()) out[id] = r.value("uploaded", false);
        return out;
    }
};

// Runs the publisher once and SIGKILLs it `delay` after it printed its `after`-th "asked" line (0: after
// "ready", i.e. possibly during its start-up resume); returns the tags it asked for.
std::vector<std::string> run_and_kill(const World& w, const std::string& outbox, const std::string& tag,
                                      int after, std::chrono::microseconds delay) {
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
    if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0)
        throw std::runtime_error("spawn");
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    auto lines = [&](const std::string& what) {
        std::size_t n = 0;
        for (auto pos = out.find(what); pos != std::string::npos; pos = out.find(what, pos + 1)) ++n;
        return n;
    };
    // The kill's moment counts from a line of the child's, read as soon as it is written.
    while (after == 0 ? lines("ready\n") == 0 : lines("asked ") < static_cast<std::size_t>(after)) {
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
        if (end == std::string::npos) break;  // a line cut by the kill
        asked.push_back(out.substr(pos + 6, end - pos - 6));
        pos = end;
    }
    return asked;
}

// The kills: every tag the publisher asked for.
std::set<std::string> run_kills(World& w, const std::string& outbox, int kills, unsigned seed) {
    std::mt19937 rng{seed};
    std::uniform_int_distribution<int> after{0, 3};          // 0: from its start (during its resume, ...)
    std::uniform_int_distribution<int> moment_us{0, 40000};  // about one create_event with the outbox
    std::set<std::string> asked;
    for (int k = 0; k < kills; ++k) {
        const auto tags = run_and_kill(w, outbox, "k" + std::to_string(k), after(rng),
                                       std::chrono::microseconds{moment_us(rng)});
        asked.insert(tags.begin(), tags.end());
    }
    return asked;
}

// Waits until the supervisor uploaded everything Kafka acknowledged: a last event, published after all the
// others on the topic's one partition, is uploaded (bounded), and then nothing changes for half a second.
void settle(World& w) {
    gracedb::GraceDb client{w.standin->service_url(), {.force_noauth = true}};
    auto producer = client.create_kafka_producer(
        {.bootstrap_servers = w.cluster->bootstrap_servers(),
         .kafka_config = {{"security.protocol", "plaintext"}}});
    const std::string last = client.create_event("Test", "gstlal", "event.xml",
                                                 {.filecontents = "<event tag='last'/>", .kafka = &producer})
                                 .json()["graceid"];
    auto uploaded = [&] {
        std::size_t n = 0;
        for (const auto& [id, up] : w.reservations()) n += up ? 1 : 0;
        return n;
    };
    for (int i = 0; i < 600 && !w.standin->event(last); ++i) std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(w.standin->event(last)) << "the supervisor did not upload the last event within 60 s";
    std::size_t before = uploaded();
    for (int quiet = 0; quiet < 5;) {
        std::this_thread::sleep_for(100ms);
        const auto now = uploaded();
        quiet = now == before ? quiet + 1 : 0;
        before = now;
    }
}

struct Figures {
    int kills = 0;
    std::size_t asked = 0, reservations = 0, orphaned = 0, events = 0, missing = 0, duplicated = 0;
    double seconds = 0;
};

// What the stand-in holds, against what was asked for (settle()'s last event left out).
Figures count(World& w, const std::set<std::string>& asked) {
    Figures f;
    f.asked = asked.size();
    std::map<std::string, int> by_tag;
    for (const auto& [id, up] : w.reservations()) {
        if (!up) {
            ++f.orphaned;
            ++f.reservations;
            continue;
        }
        const auto file = w.standin->event_file(id);
        if (!file) continue;
        const auto a = file->find("tag='"), b = file->rfind('\'');
        const auto tag = file->substr(a + 5, b - a - 5);
        if (tag == "last") continue;
        ++f.reservations;
        ++by_tag[tag];
    }
    f.events = by_tag.size();
    for (const auto& [tag, n] : by_tag) f.duplicated += n > 1 ? static_cast<std::size_t>(n - 1) : 0;
    for (const auto& tag : asked) f.missing += by_tag.count(tag) ? 0 : 1;
    return f;
}

void print(const char* what, const Figures& f) {
    std::cout << "[outbox kill] " << what << ": " << f.kills << " kills, " << f.asked << " events asked for, "
              << f.reservations << " reservations, " << f.events << " distinct events uploaded, "
              << f.orphaned << " reservations orphaned, " << f.missing
              << " asked-for events missing (not accepted, or lost), "
              << f.duplicated << " duplicated, " << f.seconds << " s" << std::endl;
}

template <typename F>
double timed(F&& body) {
    const auto t = std::chrono::steady_clock::now();
    body();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

TEST(OutboxKill, EveryAcceptedEventExistsOnceAndEveryKnownReservationIsUploaded) {
    gracedb::set_log_level(gracedb::LogLevel::error);
    const fs::path root = fs::temp_directory_path() / ("outbox-kill-" + std::to_string(::getpid()));
    const int kills = kills_from_env();
    const auto seed = std::random_device{}();
    std::cout << "[outbox kill] seed " << seed << std::endl;

    {  // Without the outbox: what a crash costs (printed, to show what the assertions below catch).
        World w{root / "plain"};
        std::set<std::string> asked;
        const double s = timed([&] {
            asked = run_kills(w, "-", kills, seed);
            settle(w);
        });
        Figures f = count(w, asked);
        f.kills = kills;
        f.seconds = s;
        print("without outbox", f);
    }

    World w{root / "outbox"};
    const std::string outbox = (root / "outbox" / "journal").string();
    std::set<std::string> asked;
    gracedb::OutboxResumeResult resumed;
    const double seconds = timed([&] {
        asked = run_kills(w, outbox, kills, seed);
        // The last run was killed too: one more client with the outbox completes what it left.
        gracedb::GraceDb client{w.standin->service_url(),
                                {.force_noauth = true, .outbox = outbox, .resume_outbox_on_start = false}};
        resumed = client.resume_outbox();
        settle(w);
    });
    std::cout << "[outbox kill] final resume: " << resumed.completed << " completed, " << resumed.failed
              << " failed, " << resumed.busy << " busy" << std::endl;
    for (const auto& e : resumed.errors) ADD_FAILURE() << e;
    Figures f = count(w, asked);
    f.kills = kills;
    f.seconds = seconds;
    print("with outbox", f);

    const auto entries = gracedb::read_outbox(outbox);
    std::size_t flagged = 0, unknown = 0;
    std::set<std::string> graceids;
    for (const auto& e : entries) {
        EXPECT_TRUE(e.state == "acknowledged" || e.state == "completed")
            << "entry " << e.id << ": " << e.state;
        ASSERT_TRUE(e.graceid) << "entry " << e.id;
        EXPECT_TRUE(graceids.insert(*e.graceid).second) << *e.graceid << " journaled twice";
        flagged += e.may_hold_unknown_reservation() ? 1 : 0;
        unknown += static_cast<std::size_t>(e.unknown_reservations);
    }
    std::cout << "[outbox kill] with outbox: " << entries.size() << " events journaled (accepted), "
              << flagged
              << " entries may hold an unknown reservation (" << unknown << " attempts), " << f.orphaned
              << " reservations orphaned" << std::endl;
    const auto res = w.reservations();
    for (const auto& id : graceids) {
        ASSERT_TRUE(res.count(id)) << id;
        EXPECT_TRUE(res.at(id)) << id << " (journaled) was never uploaded";
    }
    EXPECT_LE(f.orphaned, unknown);  // each orphaned reservation is the window's, counted by the outbox
    EXPECT_EQ(f.duplicated, 0u);
    EXPECT_EQ(f.events, entries.size());  // every journaled event exists, once; nothing else was created
    EXPECT_LE(entries.size(), f.asked);
    {
        std::lock_guard lock{w.mutex};
        for (const auto& [id, n] : w.alerts) EXPECT_EQ(n, 1) << id << " created " << n << " times";
        EXPECT_EQ(w.alerts.size(), entries.size() + 1);  // and settle()'s last event
    }
    fs::remove_all(root);
}

}  // namespace
