// Follow-ups on an event (write_log, logs, write_label, remove_label, labels, files) through the REST client
// against the stand-in; and the stand-in's endpoints alone over raw HTTP, as read from the GraceDB server's
// source (gracedb/api/v1/events/views.py: EventLogList.post, EventLogTagDetail.put, EventLabel, Files;
// gracedb/events/view_logic.py: create_label, delete_label; gracedb/core/vfile.py: VersionedFile;
// gracedb/events/view_utils.py: eventLogToDict, labelToDict). See src/testing/standin/NOTES.md.
#include <gracedb/error.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>
#include <gracedb/testing/tokens.hpp>
#include <gtest/gtest.h>
#include <httplib.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "standin_tokens.hpp"

using namespace gracedb;
using namespace gracedb::testing;
using json = nlohmann::json;

namespace {

std::string new_event(GraceDb& client) {
    return client.create_event("CBC", "gstlal", "coinc.xml", {.filecontents = "<coinc/>"}).json()["graceid"];
}

HTTPError http_error(const std::function<void()>& f) {
    try {
        f();
    } catch (const HTTPError& e) {
        return e;
    }
    ADD_FAILURE() << "expected an HTTPError";
    return HTTPError{0, "", "none"};
}

bool has(const json& list, const std::string& v) {
    return std::find(list.begin(), list.end(), json(v)) != list.end();
}

}  // namespace

TEST(Followups, ALogWithABinaryFileIsFetchedBackByteExact) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    const auto id = new_event(client);
    const std::string bytes("\x00\x01p_astro\xff\xfe\x00\n\r{}", 15);
    const auto r = client.write_log(id, "p_astro", {.filename = "dir/p_astro.bin", .filecontents = bytes});
    EXPECT_EQ(r.status, 201);
    const auto entry = r.json();
    EXPECT_EQ(entry["filename"], "p_astro.bin") << "the server keeps the base name";
    EXPECT_EQ(entry["file_version"], 0);
    EXPECT_EQ(entry["comment"], "p_astro");
    EXPECT_EQ(client.files(id, "p_astro.bin").body, bytes);
    EXPECT_EQ(client.files(id, "p_astro.bin,0").body, bytes);
    EXPECT_EQ(client.get(entry["file"]).body, bytes) << "the entry's file link serves the same bytes";
}

TEST(Followups, LogEntriesAreNumberedAfterTheOriginalDataEntry) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    const auto id = new_event(client);
    EXPECT_EQ(client.write_log(id, "first").json()["N"], 2) << "N=1 is the server's \"Original Data\" entry";
    EXPECT_EQ(client.write_log(id, "second").json()["N"], 3);
    const auto log = client.logs(id).json();
    ASSERT_EQ(log["numRows"], 3);
    EXPECT_EQ(log["log"][0]["comment"], "Original Data");
    EXPECT_EQ(log["log"][0]["filename"], "coinc.xml");
    EXPECT_EQ(log["log"][1]["comment"], "first");
    EXPECT_EQ(log["log"][2]["comment"], "second");
    EXPECT_EQ(log["log"][2]["N"], 3);
}

TEST(Followups, AFileUploadedTwiceGetsVersionsFromZero) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    const auto id = new_event(client);
    const auto v0 = client.write_log(id, "v0", {.filename = "p.json", .filecontents = "{\"a\":0}"}).json();
    const auto v1 = client.write_log(id, "v1", {.filename = "p.json", .filecontents = "{\"a\":1}"}).json();
    EXPECT_EQ(v0["file_version"], 0);
    EXPECT_EQ(v1["file_version"], 1);
    EXPECT_EQ(client.files(id, "p.json").body, "{\"a\":1}") << "the plain name is the latest version";
    EXPECT_EQ(client.files(id, "p.json,0").body, "{\"a\":0}");
    EXPECT_EQ(client.files(id, "p.json,1").body, "{\"a\":1}");
    const auto list = client.files(id).json();
    for (const char* name : {"p.json", "p.json,0", "p.json,1", "coinc.xml", "coinc.xml,0"})
        EXPECT_TRUE(list.contains(name)) << name << " in " << list.dump();
    const auto missing = http_error([&] { client.files(id, "p.json,2"); });
    EXPECT_EQ(missing.status(), 404);
    EXPECT_EQ(missing.body(), "File p.json,2 not found");
}

TEST(Followups, TagNameIsAStringOrAList) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    const auto id = new_event(client);
    const auto one = client.write_log(id, "one tag", {.tag_name = "p_astro"}).json();
    EXPECT_EQ(one["tag_names"], json({"p_astro"}));
    const auto two = client.write_log(id, "two", {.tag_name = {"em_bright", "sig_info"},
                                                   .displayName = {"EM Bright", "Significance"}}).json();
    EXPECT_EQ(two["tag_names"], json({"em_bright", "sig_info"}));
    // As EventLogTagDetail.put: each tag also writes an entry "Tagged message N: tag ".
    const auto log = client.logs(id).json()["log"];
    const std::string n = std::to_string(two["N"].get<int>());
    json comments = json::array();
    for (const auto& e : log) comments.push_back(e["comment"]);
    EXPECT_TRUE(has(comments, "Tagged message " + n + ": em_bright ")) << comments.dump();
    EXPECT_TRUE(has(comments, "Tagged message " + n + ": sig_info ")) << comments.dump();
}

TEST(Followups, LabelsAreWrittenShownOnTheEventAndRemoved) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    const auto id = new_event(client);
    EXPECT_EQ(client.write_label(id, "PASTRO_READY").status, 201);
    const auto again = client.write_label(id, "PASTRO_READY");
    EXPECT_EQ(again.status, 200) << "a label the event has already: 200 and a warning";
    EXPECT_TRUE(again.json().contains("warning"));
    const auto labels = client.labels(id).json()["labels"];
    ASSERT_EQ(labels.size(), 1u);
    EXPECT_EQ(labels[0]["name"], "PASTRO_READY");
    EXPECT_TRUE(has(client.event(id).json()["labels"], "PASTRO_READY"));
    EXPECT_EQ(client.remove_label(id, "PASTRO_READY").status, 204);
    EXPECT_TRUE(client.labels(id).json()["labels"].empty());
    EXPECT_FALSE(has(client.event(id).json()["labels"], "PASTRO_READY"));
    const auto gone = http_error([&] { client.remove_label(id, "PASTRO_READY"); });
    EXPECT_EQ(gone.status(), 404);
    EXPECT_EQ(gone.code(), Errc::http_status);
}

TEST(Followups, AnUnknownLabelIsRefusedBeforeSendingAndAnAddedOneIsAccepted) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    const auto id = new_event(client);
    try {
        client.write_label(id, "pastro_ready");
        FAIL() << "expected std::invalid_argument";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string{e.what()}.find("\"pastro_ready\""), std::string::npos) << e.what();
        EXPECT_NE(std::string{e.what()}.find("PASTRO_READY"), std::string::npos) << "names the allowed ones";
    }
    EXPECT_EQ(client.logs(id).json()["numRows"], 1) << "nothing reached the server";
    // GraceDB gains a label: a client that reads the root now accepts it (the re-read of a stale root is
    // rate-limited to one per 5 s, tested with create_event elsewhere).
    standin.add_name("labels", "NEW_LABEL");
    GraceDb later{standin.service_url(), {.force_noauth = true}};
    EXPECT_EQ(later.write_label(id, "NEW_LABEL").status, 201);
    EXPECT_TRUE(has(later.event(id).json()["labels"], "NEW_LABEL"));
}

TEST(Followups, AGraceidReservedButNotUploadedAnswersEventNotFound) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    const std::string id = client.reserve_graceid("CBC", "gstlal").json()["graceid"];
    for (const auto& call : std::vector<std::function<void()>>{
             [&] { client.write_log(id, "too early", {.filename = "a.txt", .filecontents = "a"}); },
             [&] { client.logs(id); }, [&] { client.write_label(id, "EM_READY"); },
             [&] { client.remove_label(id, "EM_READY"); }, [&] { client.labels(id); },
             [&] { client.files(id); },
             [&] { client.files(id, "a.txt"); }}) {
        const auto e = http_error(call);
        EXPECT_EQ(e.status(), 404);
        EXPECT_EQ(e.code(), Errc::http_status);
        EXPECT_EQ(e.body(), "Event not found.");
    }
}

TEST(Followups, AnonymousWritesAreForbiddenWhenTheStandInChecksTokens) {
    StandIn standin{checking_standin(make_signing_key())};
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    for (const auto& call : std::vector<std::function<void()>>{
             [&] { client.write_log("G100001", "x"); }, [&] { client.write_label("G100001", "EM_READY"); },
             [&] { client.remove_label("G100001", "EM_READY"); }}) {
        const auto e = http_error(call);
        EXPECT_EQ(e.status(), 403);
        EXPECT_EQ(json::parse(e.body())["detail"], "Authentication credentials were not provided.");
    }
}

TEST(Followups, FilecontentsWithoutAFilenameIsRefused) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    EXPECT_THROW(client.write_log("G1", "x", {.filecontents = "bytes"}), std::invalid_argument);
}

// --- The stand-in alone, over raw HTTP, answering as the server's views do -------------------------------

namespace {

httplib::Headers agent() { return {{"User-Agent", "raw-test"}}; }

}  // namespace

TEST(StandInFollowupsRaw, LogPostAnswersAsEventLogListPost) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    const auto id = new_event(client);
    httplib::Client http{"127.0.0.1", standin.port()};
    const httplib::MultipartFormDataItems form = {{"comment", "hello", "", ""},
                                                  {"tagname", "a", "", ""},
                                                  {"tagname", "b", "", ""},
                                                  {"displayName", "A", "", ""},
                                                  {"displayName", "B", "", ""},
                                                  {"upload", std::string("x\0y", 3), "f.bin",
                                                   "application/octet-stream"}};
    auto r = http.Post("/api/events/" + id + "/log/", agent(), form);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 201);
    const auto entry = json::parse(r->body);
    EXPECT_EQ(entry["N"], 2);
    EXPECT_EQ(entry["tag_names"], json({"a", "b"}));
    EXPECT_EQ(entry["file_version"], 0);
    EXPECT_EQ(r->get_header_value("Location"), entry["self"]) << "Location is the entry's self";
    const std::string file_url = entry["file"];
    EXPECT_NE(file_url.find("/api/events/" + id + "/files/f.bin,0"), std::string::npos) << file_url;
    // A JSON body (as ligo-gracedb sends a log without a file in some versions): tagname may be one string.
    r = http.Post("/api/events/" + id + "/log/", agent(), R"({"comment": "json", "tagname": "c"})",
                  "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 201);
    EXPECT_EQ(json::parse(r->body)["tag_names"], json({"c"}));
    // Numbering: 1 Original Data, 2 hello, 3-4 its tags, 5 json, 6 its tag.
    EXPECT_EQ(json::parse(r->body)["N"], 5);
    r = http.Get("/api/events/" + id + "/log/6", agent());
    ASSERT_TRUE(r);
    EXPECT_EQ(json::parse(r->body)["comment"], "Tagged message 5: c ");
    r = http.Get("/api/events/" + id + "/files/f.bin", agent());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, std::string("x\0y", 3));
}

TEST(StandInFollowupsRaw, LabelEndpointsAnswerAsEventLabel) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    const auto id = new_event(client);
    httplib::Client http{"127.0.0.1", standin.port()};
    const auto url = "/api/events/" + id + "/labels/";
    auto r = http.Put(url + "EM_READY", agent(), "", "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 201);
    r = http.Put(url + "EM_READY", agent(), "", "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(json::parse(r->body)["warning"], "Event " + id + " already labeled with 'EM_READY'");
    r = http.Put(url + "NO_SUCH", agent(), "", "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->body, "No such Label 'NO_SUCH'");
    r = http.Get(url + "EM_READY", agent());
    ASSERT_TRUE(r);
    EXPECT_EQ(json::parse(r->body)["name"], "EM_READY");
    r = http.Get(url + "DQV", agent());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->body, "Label DQV Not Found");
    r = http.Delete(url + "EM_READY", agent());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 204);
    r = http.Delete(url + "EM_READY", agent());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->body, "No label 'EM_READY' associated with event " + id);
    // create_label / delete_label log what they did.
    r = http.Get("/api/events/" + id + "/log/", agent());
    ASSERT_TRUE(r);
    const auto log = json::parse(r->body)["log"];
    ASSERT_EQ(log.size(), 3u);
    EXPECT_EQ(log[1]["comment"], "Label: EM_READY");
    EXPECT_EQ(log[2]["comment"], "Deleted label: EM_READY");
    // The alerts the server's issuers send.
    std::vector<std::string> types;
    for (const auto& a : standin.alerts()) types.push_back(a["alert_type"]);
    EXPECT_EQ(types, (std::vector<std::string>{"new", "label_added", "label_removed"}));
}

TEST(StandInFollowupsRaw, AMissingEventIsNotFoundAndAnAnonymousWriteForbiddenFirst) {
    StandIn standin{checking_standin(make_signing_key())};
    httplib::Client http{"127.0.0.1", standin.port()};
    // IsAuthenticated is checked before the event is looked up: anonymous callers see 403, not 404.
    auto r = http.Put("/api/events/G999999/labels/EM_READY", agent(), "", "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    StandIn open;
    httplib::Client http2{"127.0.0.1", open.port()};
    for (const std::string path : {"/api/events/G999999/log/", "/api/events/G999999/labels/",
                                   "/api/events/G999999/files/", "/api/events/G999999/files/x.txt"}) {
        r = http2.Get(path, agent());
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 404) << path;
        EXPECT_EQ(r->body, "Event not found.") << path;
    }
}

TEST(Followups, LogsLabelsAndFileVersionsSurviveAStandInRestartWithAStoreFile) {
    const auto store = std::filesystem::temp_directory_path() /
                       ("gracedb-followups-" + std::to_string(::getpid()) + ".json");
    std::filesystem::remove(store);
    std::string id;
    const std::string bytes("\0\xff", 2);
    {
        StandIn standin{{.store_file = store.string()}};
        GraceDb client{standin.service_url(), {.force_noauth = true}};
        id = new_event(client);
        client.write_log(id, "a", {.filename = "f.bin", .filecontents = bytes, .tag_name = "t"});
        client.write_label(id, "EM_READY");
    }
    StandIn again{{.store_file = store.string()}};
    GraceDb client{again.service_url(), {.force_noauth = true}};
    EXPECT_EQ(client.files(id, "f.bin,0").body, bytes);
    EXPECT_EQ(client.logs(id).json()["log"][1]["tag_names"], json({"t"}));
    EXPECT_EQ(client.labels(id).json()["labels"][0]["name"], "EM_READY");
    EXPECT_EQ(client.write_log(id, "b").json()["N"], 5) << "after 1 original, 2 a, 3 its tag, 4 the label";
    std::filesystem::remove(store);
}

TEST(Followups, ALogPostIsRetriedOnlyAfterA429AndLabelCallsAfterTransientFailures) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true, .retry_backoff = std::chrono::milliseconds{1}}};
    const auto id = new_event(client);
    standin.fail_next("/log/", 503, 1);
    const auto e = http_error([&] { client.write_log(id, "once"); });
    EXPECT_EQ(e.status(), 503) << "a log POST is not repeated after a 503: it may have been written";
    standin.fail_next("/log/", 429, 1);
    EXPECT_EQ(client.write_log(id, "throttled, then written").status, 201) << "a throttled POST was not processed";
    standin.fail_next("/labels/", 503, 2);
    EXPECT_EQ(client.write_label(id, "EM_READY").status, 201) << "a label PUT is idempotent: retried";
    standin.fail_next("/labels/", 502, 1);
    EXPECT_EQ(client.remove_label(id, "EM_READY").status, 204);
    const auto log = client.logs(id).json()["log"];
    ASSERT_EQ(log.size(), 4u) << log.dump();  // Original Data, the throttled one, Label:, Deleted label:
    EXPECT_EQ(log[1]["comment"], "throttled, then written");
}
