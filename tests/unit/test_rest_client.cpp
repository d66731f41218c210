// The REST client against the stand-in, on loopback, without a broker: the checks the Python client makes,
// where the token may go, retries of throttled requests, error codes, and URLs with credentials.
#include <gracedb/error.hpp>
#include <gracedb/kafka/topics.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>
#include <gracedb/testing/tokens.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>

#include "itest.hpp"
#include "local_server.hpp"
#include "standin_tokens.hpp"
#include "throws.hpp"

using namespace gracedb;
using namespace gracedb::testing;
using namespace std::chrono_literals;

namespace {

const std::string& signing_key() {
    static const std::string key = make_signing_key();
    return key;
}

// A stand-in that verifies tokens of our test key for audience https://localhost.
StandInOptions checking_options() { return checking_standin(signing_key()); }

// Writes a valid GraceDB token where discovery (TokenEnv) finds it.
void write_gracedb_token(const TokenEnv& env, const std::string& sub = "pipeline") {
    write_secret_file(env.token_file(), mint_token(signing_key(), standin_token_spec(sub)) + "\n");
}

}  // namespace

TEST(RestClient, GroupPipelineSearchAndLabelsAreCheckedAgainstTheRootBeforeSending) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    auto msg = invalid_argument_message([&] { client.create_event("cbc", "gstlal", "x.xml", {.filecontents = "x"}); });
    EXPECT_NE(msg.find("\"cbc\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("\"CBC\""), std::string::npos) << "names the allowed ones: " << msg;
    msg = invalid_argument_message([&] { client.create_event("Burst", "cwb", "x.xml", {.filecontents = "x"}); });
    EXPECT_NE(msg.find("pipeline \"cwb\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("\"CWB\""), std::string::npos) << msg;
    msg = invalid_argument_message(
        [&] { client.create_event("CBC", "gstlal", "x.xml", {.search = "allsky", .filecontents = "x"}); });
    EXPECT_NE(msg.find("search \"allsky\""), std::string::npos) << msg;
    msg = invalid_argument_message([&] {
        client.create_event("CBC", "gstlal", "x.xml", {.filecontents = "x", .labels = {"EM_READY", "em_ready"}});
    });
    EXPECT_NE(msg.find("label \"em_ready\""), std::string::npos) << msg;
    invalid_argument_message([&] { client.reserve_graceid("CBC", "nope"); });
    invalid_argument_message([&] { client.upload_reserved_event("G1", "Nope", "gstlal", "x.xml", {.filecontents = "x"}); });
    EXPECT_EQ(standin.event_count(), 0u) << "nothing was sent";
    EXPECT_EQ(client.create_event("CBC", "gstlal", "x.xml", {.search = "AllSky", .filecontents = "x",
                                                              .labels = {"EM_READY"}}).status, 201);
}

TEST(RestClient, ApiVersionDefaultUserAgentAndAudienceAsThePythonClient) {
    StandIn standin;
    EXPECT_EQ(GraceDb(standin.service_url(), {.api_version = "default", .force_noauth = true}).service_url(),
              standin.service_url());
    EXPECT_EQ(GraceDb(standin.service_url(), {.api_version = "v2", .force_noauth = true}).service_url(),
              standin.service_url() + "v2/");
    EXPECT_THROW(GraceDb(standin.service_url(), {.api_version = "v3", .force_noauth = true}), std::invalid_argument);
    const auto msg = invalid_argument_message(
        [&] { GraceDb(standin.service_url(), {.force_noauth = true, .user_agent = "my-gracedb-client/1.0"}); });
    EXPECT_NE(msg.find("gracedb-client"), std::string::npos) << msg;
    GraceDb custom{standin.service_url(), {.force_noauth = true, .user_agent = "my-pipeline/3"}};
    EXPECT_TRUE(custom.api_root().contains("groups"));
    EXPECT_EQ(gracedb_token_audience("https://GraceDB-Test.LIGO.org:8443/api/"), "https://gracedb-test.ligo.org");
}

TEST(RestClient, AThrottledCreationIsRetriedAfterRetryAfterAlsoForAPost) {
    StandIn standin{{.creations_per_second = 1}};
    GraceDb client{standin.service_url(), {.force_noauth = true, .retry_backoff = 10ms}};
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(client.create_event("CBC", "gstlal", "x.xml", {.filecontents = "x"}).status, 201);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 1900ms) << "waited Retry-After (1 s), not the 10 ms backoff";
    EXPECT_EQ(standin.event_count(), 3u) << "each throttled POST was retried once it was allowed, none twice";

    StandIn fresh{{.creations_per_second = 1}};
    GraceDb impatient{fresh.service_url(), {.force_noauth = true, .max_retries = 0}};
    std::optional<HTTPError> refused;
    for (int i = 0; i < 10 && !refused; ++i) {  // within one second at least the second one is throttled
        try {
            impatient.create_event("CBC", "gstlal", "x.xml", {.filecontents = "x"});
        } catch (const HTTPError& e) {
            refused = e;
        }
    }
    ASSERT_TRUE(refused) << "no 429 from a stand-in throttling at 1 creation per second";
    EXPECT_EQ(refused->status(), 429);
    EXPECT_TRUE(refused->retriable());
    EXPECT_EQ(refused->code(), Errc::http_status);
    EXPECT_NE(refused->body().find("throttled"), std::string::npos) << refused->body();
}

TEST(RestClient, ATimedOutCreationSaysTheEventMayExistAndHowToCheck) {
    StandIn standin{{.upload_latency = 3s}};
    GraceDb client{standin.service_url(), {.force_noauth = true, .timeout = 500ms}};
    try {
        client.create_event("CBC", "gstlal", "x.xml", {.filecontents = "x"});
        FAIL() << "expected a timeout";
    } catch (const TransportError& e) {
        EXPECT_EQ(e.code(), Errc::timed_out);
        EXPECT_FALSE(e.retriable()) << "retrying could create it twice";
        EXPECT_NE(std::string{e.what()}.find("may have been processed"), std::string::npos) << e.what();
        EXPECT_NE(std::string{e.what()}.find("GraceDb::event"), std::string::npos) << e.what();
    }
}

// A plain creation (a POST, not idempotent) answered 5xx may have been applied behind the error (a gateway's
// 502/504 after the server created the event; a 500 after the commit): the caller who retries every
// retriable() error would make a second event. 429 and 408 were not processed: those stay retriable.
TEST(RestClient, ACreationAnswered5xxIsNotRetriableAndSaysTheEventMayExist) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true, .max_retries = 0}};
    for (int status : {500, 502, 503, 504}) {
        standin.fail_next("/events/", status);
        try {
            client.create_event("CBC", "gstlal", "x.xml", {.filecontents = "x"});
            FAIL() << "expected HTTP " << status;
        } catch (const HTTPError& e) {
            EXPECT_EQ(e.status(), status);
            EXPECT_FALSE(e.retriable()) << "HTTP " << status << " to a creation: retrying could create it twice";
            EXPECT_NE(std::string{e.what()}.find("may have been processed"), std::string::npos) << e.what();
        }
    }
    standin.fail_next("/events/", 429);
    try {
        client.create_event("CBC", "gstlal", "x.xml", {.filecontents = "x"});
        FAIL() << "expected HTTP 429";
    } catch (const HTTPError& e) {
        EXPECT_TRUE(e.retriable()) << "a throttled request was not processed: " << e.what();
    }
    standin.fail_next("/api/", 500);  // a GET: safe to send again
    try {
        GraceDb{standin.service_url(), {.force_noauth = true, .max_retries = 0}}.api_root();
        FAIL() << "expected HTTP 500";
    } catch (const HTTPError& e) {
        EXPECT_TRUE(e.retriable()) << e.what();
    }
}

// A response body used to be read without bound (a server answering without end filled memory until the
// timeout). Past max_response_bytes the transfer stops with a clear error.
TEST(RestClient, AnAnswerPastMaxResponseBytesIsAClearErrorAndIsNotReadFurther) {
    LocalServer server;
    constexpr std::size_t padding = std::size_t{8} << 20;  // 8 MiB of white space before a valid API root
    server.routes().Get("/api/", [](const httplib::Request&, httplib::Response& res) {
        auto sent = std::make_shared<std::size_t>(0);
        res.set_chunked_content_provider("application/json", [sent](std::size_t, httplib::DataSink& sink) {
            static const std::string blank(std::size_t{64} << 10, ' ');
            if (*sent >= padding) {
                const std::string root = R"({"links": {}, "templates": {}})";
                sink.write(root.data(), root.size());
                sink.done();
                return true;
            }
            *sent += blank.size();
            return sink.write(blank.data(), blank.size());
        });
    });
    const std::string url = server.start() + "/api/";
    constexpr std::size_t cap = std::size_t{1} << 20;
    GraceDb capped{url, {.force_noauth = true, .max_retries = 0, .max_response_bytes = cap}};
    try {
        capped.api_root();
        FAIL() << "an answer of more than 8 MiB was read with max_response_bytes = 1 MiB";
    } catch (const GraceDbError& e) {
        EXPECT_EQ(e.code(), Errc::message_too_large) << e.what();
        EXPECT_FALSE(e.retriable());
        const std::string what = e.what();
        EXPECT_NE(what.find("larger than 1048576 bytes"), std::string::npos) << what;
        EXPECT_NE(what.find("max_response_bytes"), std::string::npos) << "says which setting: " << what;
        EXPECT_NE(what.find("GET " + url), std::string::npos) << "says which request: " << what;
    }
    GraceDb roomy{url, {.force_noauth = true, .max_retries = 0}};  // the default, 64 MiB
    EXPECT_TRUE(roomy.api_root().contains("links")) << "the same answer under the default cap";
    EXPECT_THROW(GraceDb(url, {.force_noauth = true, .max_response_bytes = 0}), std::invalid_argument);
}

TEST(RestClientSerial, TheTokenGoesOnlyToTheServicesOwnOrigin) {
    TokenEnv env;
    write_gracedb_token(env);
    StandIn service{checking_options()};
    auto other_options = checking_options();  // accepts the very same token: only the client can protect it
    other_options.url_host = "127.0.0.1";
    StandIn other_host{other_options};
    StandIn other_port{checking_options()};
    GraceDb client{service.service_url(), {.allow_token_over_http = true}};
    // With the token the answer is 404 (authenticated, no such event); without it 403 (anonymous).
    auto status_of = [&](const std::string& url) {
        try {
            return client.get(url).status;
        } catch (const HTTPError& e) {
            return e.status();
        }
    };
    EXPECT_EQ(status_of(service.service_url() + "events/G1"), 404) << "the service itself gets the token";
    EXPECT_EQ(status_of(other_host.service_url() + "events/G1"), 403) << "another host never gets it";
    EXPECT_EQ(status_of(other_port.service_url() + "events/G1"), 403) << "another port never gets it";
}

TEST(RestClientSerial, ATokenIsNeverSentOverClearTextUnlessAllowed) {
    TokenEnv env;
    write_gracedb_token(env);
    StandIn standin{checking_options()};
    try {
        GraceDb client{standin.service_url()};
        FAIL() << "expected a refusal to send a token over http://";
    } catch (const CredentialError& e) {
        EXPECT_EQ(e.code(), Errc::insecure_transport);
        EXPECT_NE(std::string{e.what()}.find("allow_token_over_http"), std::string::npos) << "says what to do";
        EXPECT_EQ(std::string{e.what()}.find(read_file(env.token_file().string()).substr(0, 40)), std::string::npos);
    }
    GraceDb allowed{standin.service_url(), {.allow_token_over_http = true}};
    EXPECT_EQ(allowed.create_event("CBC", "gstlal", "x.xml", {.filecontents = "x"}).json()["submitter"], "pipeline");
    GraceDb none{standin.service_url(), {.force_noauth = true}};
    EXPECT_THROW(none.create_event("CBC", "gstlal", "x.xml", {.filecontents = "x"}), HTTPError) << "anonymous: 403";
}

TEST(RestClient, CredentialsInAServiceUrlAreNeverEchoed) {
    GraceDb client{"http://someone:s3cr3t@127.0.0.1:9/api/", {.force_noauth = true, .max_retries = 0}};
    try {
        client.event("G1");
        FAIL();
    } catch (const TransportError& e) {
        EXPECT_EQ(e.code(), Errc::connection_failed);
        EXPECT_TRUE(e.retriable());
        EXPECT_EQ(std::string{e.what()}.find("s3cr3t"), std::string::npos) << e.what();
        EXPECT_NE(std::string{e.what()}.find("127.0.0.1:9"), std::string::npos) << "says where: " << e.what();
    }
    auto msg = invalid_argument_message([] { GraceDb("https://someone:s3cr3t@:99999/api/", {.force_noauth = true}); });
    EXPECT_EQ(msg.find("s3cr3t"), std::string::npos) << msg;
    msg = invalid_argument_message([] { kafka::derive_instance_name("https://someone:s3cr3t@[::1]/api/"); });
    EXPECT_EQ(msg.find("s3cr3t"), std::string::npos) << msg;
    EXPECT_EQ(kafka::derive_instance_name("https://someone:s3cr3t@GraceDB-Dev.ligo.org/api/"), "gracedb-dev");
}

TEST(RestClient, TheApiRootIsFetchedOnceAndNeverReplacedUnderReaders) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    std::vector<const nlohmann::json*> seen(8, nullptr);
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < seen.size(); ++i)
        threads.emplace_back([&, i] {
            while (!go.load()) std::this_thread::yield();
            const auto& root = client.api_root();
            seen[i] = &root;
            for (int k = 0; k < 50; ++k) EXPECT_TRUE(root.at("links").contains("events"));  // still alive
        });
    go = true;
    for (auto& t : threads) t.join();
    for (const auto* p : seen) EXPECT_EQ(p, seen.front()) << "every reader holds the same, never reassigned, root";
}

// Regression (found reviewing the supervisor): the graceid was pasted into the URL as it came, so a Kafka
// message naming "../../x" made the supervisor POST to another path of the server.
TEST(RestClient, AGraceidThatIsNotLettersAndDigitsIsRefusedBeforeAnyRequest) {
    StandIn standin;
    GraceDb client{standin.service_url(), {.force_noauth = true}};
    for (const std::string& bad : std::vector<std::string>{"../../x", "G1/../../events", "G1?x=1", "G 1", "", std::string(65, 'G')}) {
        const auto msg = invalid_argument_message([&] { client.event(bad); });
        EXPECT_NE(msg.find("not a graceid"), std::string::npos) << bad << ": " << msg;
        const auto up = invalid_argument_message(
            [&] { client.upload_reserved_event(bad, "Test", "gstlal", "x.xml", {.filecontents = "<x/>"}); });
        EXPECT_NE(up.find("not a graceid"), std::string::npos) << bad << ": " << up;
    }
    EXPECT_EQ(standin.uploads(), 0u);
}
