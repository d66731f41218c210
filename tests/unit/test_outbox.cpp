// The outbox module (src/client/rest/outbox.*): journal states, resume, two resumers, bad directories.
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "mock_world.hpp"
#include "client/rest/outbox.hpp"

namespace {

namespace fs = std::filesystem;
using gracedb::rest_detail::Outbox;
using namespace std::chrono_literals;

struct TempDir {
    fs::path path;
    TempDir() {
        static int n = 0;
        path = fs::temp_directory_path() /
               ("outbox-unit-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
        fs::remove_all(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string str() const { return (path / "box").string(); }
};

gracedb::OutboxEntry event(const std::string& service, const std::string& tag) {
    return {.state = "reserving", .service = service, .group = "Test", .pipeline = "gstlal",
            .search = "AllSky", .labels = {"INJ"}, .filename = "coinc.xml",
            .contents = "<e tag='" + tag + "'/>"};
}

TEST(Outbox, JournalsEachStepDurablyAndDropsTheBytesOfFinishedEntries) {
    TempDir d;
    std::int64_t id = 0;
    {
        Outbox box{d.str()};
        EXPECT_EQ(fs::status(d.str()).permissions() & fs::perms::all, fs::perms::owner_all);
        id = box.accept(event("http://x/api/", "a"));
        // Claimed by its creator: another client of the same outbox cannot take it.
        Outbox other{d.str()};
        EXPECT_FALSE(other.claim(id));
        box.record(id, "reserved", std::string{"T100001"});
        auto e = gracedb::read_outbox(d.str(), true).at(0);
        EXPECT_EQ(e.state, "reserved");
        EXPECT_EQ(e.graceid, "T100001");
        EXPECT_EQ(e.contents, "<e tag='a'/>");
        EXPECT_EQ(e.labels, std::vector<std::string>{"INJ"});
        EXPECT_EQ(e.search, "AllSky");
        EXPECT_FALSE(e.finished());
        box.record(id, "published");
        box.record(id, "acknowledged");
        box.release(id);
    }
    const auto e = gracedb::read_outbox(d.str(), true).at(0);  // reopened: what was committed survived
    EXPECT_EQ(e.state, "acknowledged");
    EXPECT_EQ(e.graceid, "T100001");  // kept when a later step does not name it
    EXPECT_TRUE(e.finished());
    EXPECT_TRUE(e.contents.empty());
    EXPECT_FALSE(e.may_hold_unknown_reservation());
    Outbox box{d.str()};
    EXPECT_FALSE(box.claim(id));  // finished: nothing to claim
}

TEST(Outbox, AClaimEndsWithItsHolderSoACrashedEntryCanBeTaken) {
    TempDir d;
    Outbox box{d.str()};
    std::int64_t id = 0;
    {
        Outbox crashed{d.str()};
        id = crashed.accept(event("http://x/api/", "a"));
        EXPECT_FALSE(box.claim(id));
    }  // closing its descriptor drops its locks, as the kernel does when a process dies
    auto e = box.claim(id);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->state, "reserving");
    EXPECT_TRUE(e->may_hold_unknown_reservation());
    EXPECT_FALSE(box.claim(id));  // not twice, within one client either
    box.release(id);
    EXPECT_TRUE(box.claim(id));
}

TEST(Outbox, ABadDirectoryIsATypedErrorThatNamesIt) {
    TempDir d;
    fs::create_directories(d.path);
    const auto file = (d.path / "plain-file").string();
    std::ofstream{file} << "x";
    try {
        Outbox box{file};
        FAIL() << "opened an outbox in a file";
    } catch (const gracedb::Error& e) {
        EXPECT_EQ(e.code(), gracedb::Errc::invalid_configuration);
        EXPECT_NE(std::string{e.what()}.find(file), std::string::npos) << e.what();
    }
    try {
        gracedb::read_outbox((d.path / "none").string());
        FAIL() << "read an outbox that is not there";
    } catch (const gracedb::Error& e) {
        EXPECT_EQ(e.code(), gracedb::Errc::invalid_configuration);
        EXPECT_NE(std::string{e.what()}.find("no outbox"), std::string::npos) << e.what();
    }
    EXPECT_THROW(gracedb::GraceDb("http://localhost:1/api/", {.force_noauth = true, .outbox = file}),
                 gracedb::Error);
}

// Review regression: the journal decides what is uploaded with this process's credentials and holds event
// files: a directory other users may write or own, or a journal file that is a symbolic link, is refused; the
// files are this user's only.
TEST(Outbox, ADirectoryOthersMayWriteOrAJournalThatIsALinkIsRefusedAndTheFilesAre0600) {
    TempDir d;
    const fs::path dir = d.path / "shared";
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::all);  // 0777
    auto refused = [](const std::string& path, const std::string& why) {
        try {
            Outbox box{path};
            ADD_FAILURE() << "opened " << path;
        } catch (const gracedb::Error& e) {
            EXPECT_EQ(e.code(), gracedb::Errc::invalid_configuration);
            EXPECT_NE(std::string{e.what()}.find(why), std::string::npos) << e.what();
        }
    };
    refused(dir.string(), "other users may write");
    fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);  // 0755: allowed
    fs::create_symlink(d.path / "elsewhere.sqlite", dir / "outbox.sqlite");
    refused(dir.string(), "symbolic link");
    fs::remove(dir / "outbox.sqlite");
    {
        Outbox box{dir.string()};
        box.accept(event("http://x/api/", "mode"));
    }
    for (const char* f : {"outbox.sqlite", "outbox.lock"})
        EXPECT_EQ(fs::status(dir / f).permissions() & (fs::perms::group_all | fs::perms::others_all),
                  fs::perms::none) << f << " is readable by others";
    if (::geteuid() == 0) {  // as root (CI): a directory of another user
        const fs::path theirs = d.path / "theirs";
        fs::create_directories(theirs);
        ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
        refused(theirs.string(), "owned by another user");
    }
}

// Review regression: an event published with skip_supervisor is not to be uploaded by anybody, so neither is
// it journaled (a later resume would have uploaded it over HTTP).
TEST(Outbox, AnEventNobodyIsToUploadIsNotJournaled) {
    TempDir d;
    gracedb::testing_support::MockWorld world{1};
    gracedb::GraceDb client{world.standin->service_url(), {.force_noauth = true, .outbox = d.str()}};
    auto p = world.producer();
    gracedb::CreateEventOptions o;
    o.filecontents = "<LIGO_LW/>";
    o.kafka = &p;
    o.skip_supervisor = true;
    client.create_event("CBC", world.pipeline, "coinc.xml", o);
    EXPECT_TRUE(gracedb::read_outbox(d.str()).empty()) << "journaled an event nobody is to upload";
    o.skip_supervisor = false;  // and the ordinary case is journaled
    client.create_event("CBC", world.pipeline, "coinc.xml", o);
    EXPECT_EQ(gracedb::read_outbox(d.str()).size(), 1u);
}

// Entries left in each unfinished state by "crashed" clients; a client with the outbox completes them at
// start.
TEST(Outbox, AClientWithTheOutboxCompletesWhatCrashedProcessesLeft) {
    gracedb::StandIn standin;
    TempDir d;
    gracedb::GraceDb plain{standin.service_url(), {.force_noauth = true}};
    const std::string service = plain.service_url();
    std::string reserved_id, published_id;
    {
        Outbox crashed{d.str()};
        crashed.accept(event(service, "reserving"));
        const auto reserved = crashed.accept(event(service, "reserved"));
        reserved_id = plain.reserve_graceid("Test", "gstlal", "AllSky").json()["graceid"];
        crashed.record(reserved, "reserved", reserved_id);
        const auto published = crashed.accept(event(service, "published"));
        published_id = plain.reserve_graceid("Test", "gstlal", "AllSky").json()["graceid"];
        crashed.record(published, "published", published_id);
        // Its Kafka copy already uploaded by the supervisor: the resume's upload is a 409, done.
        plain.upload_reserved_event(published_id, "Test", "gstlal", "coinc.xml",
                                    {.search = "AllSky", .filecontents = "<e tag='published'/>"});
        const auto acknowledged = crashed.accept(event(service, "acknowledged"));
        crashed.record(acknowledged, "acknowledged", std::string{"T999999"});
        crashed.accept(event("http://elsewhere:1/api/", "other"));
    }
    ASSERT_EQ(standin.event_count(), 1u);
    gracedb::GraceDb client{standin.service_url(), {.force_noauth = true, .outbox = d.str()}};  // resumes
    const auto entries = gracedb::read_outbox(d.str());
    ASSERT_EQ(entries.size(), 5u);
    const auto& e1 = entries[0];
    EXPECT_EQ(e1.state, "completed");
    EXPECT_EQ(e1.unknown_reservations, 1);  // the crashed attempt may have reserved one: counted
    EXPECT_TRUE(e1.may_hold_unknown_reservation());
    ASSERT_TRUE(e1.graceid);
    EXPECT_EQ(standin.event_file(*e1.graceid), "<e tag='reserving'/>");
    EXPECT_EQ(entries[1].state, "completed");
    EXPECT_EQ(standin.event_file(reserved_id), "<e tag='reserved'/>");
    EXPECT_EQ(entries[2].state, "completed");
    EXPECT_EQ(entries[3].state, "acknowledged");  // the supervisor's: left alone
    EXPECT_EQ(entries[4].state, "reserving");     // another service's: left alone
    EXPECT_EQ(standin.event_count(), 3u);
    EXPECT_EQ(standin.duplicate_uploads(), 1u);   // the published one's 409
    const auto again = client.resume_outbox();
    EXPECT_EQ(again.completed, 0u);
    EXPECT_EQ(again.other_service, 1u);
    EXPECT_EQ(standin.event_count(), 3u);
}

TEST(Outbox, TwoResumersNeverFinishTheSameEntry) {
    gracedb::StandInOptions so;
    so.upload_latency = 5ms;  // both resumers are at work at the same time
    gracedb::StandIn standin{so};
    TempDir d;
    const std::string service = gracedb::GraceDb{standin.service_url(), {.force_noauth = true}}.service_url();
    constexpr int kEntries = 40;
    {
        Outbox crashed{d.str()};
        for (int i = 0; i < kEntries; ++i) crashed.accept(event(service, std::to_string(i)));
    }
    gracedb::OutboxResumeResult a, b;
    auto resumer = [&](gracedb::OutboxResumeResult& out) {
        gracedb::GraceDb c{standin.service_url(),
                           {.force_noauth = true, .outbox = d.str(), .resume_outbox_on_start = false}};
        out = c.resume_outbox();
    };
    std::thread ta{resumer, std::ref(a)}, tb{resumer, std::ref(b)};
    ta.join();
    tb.join();
    std::cout << "resumer A completed " << a.completed << ", B " << b.completed << " (busy " << a.busy << "/"
              << b.busy << ")\n";
    EXPECT_EQ(a.completed + b.completed, static_cast<std::size_t>(kEntries));
    EXPECT_EQ(a.failed + b.failed, 0u);
    EXPECT_EQ(standin.event_count(), static_cast<std::size_t>(kEntries));
    EXPECT_EQ(standin.duplicate_uploads(), 0u);
    for (const auto& e : gracedb::read_outbox(d.str())) {
        EXPECT_EQ(e.state, "completed");
        EXPECT_EQ(e.unknown_reservations, 1);  // each was "reserving": exactly one resumer counted it
    }
}

}  // namespace

// A resume whose reservation GraceDB answers 503 (the server's trouble, not the entry's) keeps the entry for
// the next resume. Since a creation POST answered 5xx is reported not retriable (it may have been applied),
// the resume took that for GraceDB refusing the entry and marked it failed for good: the event was lost.
TEST(Outbox, AReservationAnswered5xxIsTriedAgainAtTheNextResumeNotFailedForGood) {
    gracedb::StandIn standin;
    TempDir d;
    gracedb::GraceDb plain{standin.service_url(), {.force_noauth = true}};
    {
        Outbox crashed{d.str()};
        crashed.accept(event(plain.service_url(), "reserving"));
    }
    gracedb::GraceDb client{standin.service_url(),
                            {.force_noauth = true, .max_retries = 0, .outbox = d.str(),
                             .resume_outbox_on_start = false}};
    standin.fail_next("reservation", 503);
    standin.fail_next("/events/", 503);
    client.resume_outbox();
    auto entries = gracedb::read_outbox(d.str());
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_NE(entries[0].state, "failed") << "a 503 is GraceDB's trouble: the entry must be tried again";
    standin.clear_failures();
    client.resume_outbox();
    entries = gracedb::read_outbox(d.str());
    EXPECT_EQ(entries[0].state, "completed");
    EXPECT_EQ(standin.event_count(), 1u);
}
