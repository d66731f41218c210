// The supervisor's heartbeat message (src/supervisor/heartbeat.hpp): identity, uptime, counters and the
// produce-to-upload delay of the most recent events.
#include <gtest/gtest.h>

#include "common/text.hpp"
#include "supervisor/heartbeat.hpp"

using namespace gracedb;
using namespace gracedb::supervisor_detail;
using namespace std::chrono_literals;

TEST(SupervisorHeartbeat, MessageCarriesIdentityUptimeCountersAndRecentDelays) {
    SupervisorStats s;
    s.uploaded = 7;
    s.already_uploaded = 2;
    s.dead_lettered = 1;
    s.retries = 3;
    s.in_flight = 4;
    // 1000 old slow delays, then kHeartbeatWindow recent ones from 1 ms to 256 ms: only the recent count.
    for (int i = 0; i < 1000; ++i) s.delays_s.push_back(100.0);
    for (std::size_t i = 1; i <= kHeartbeatWindow; ++i) s.delays_s.push_back(static_cast<double>(i) / 1000);
    const auto started = std::chrono::system_clock::time_point{std::chrono::seconds{1764172800}};
    s.last_upload = started + 90s;
    const auto now = started + 100s + 250ms;
    const auto m = heartbeat_message({.instance = "gracedb-dev", .group = "gracedb-supervisor-gracedb-dev",
                                      .host = "node1", .version = "0.1.0", .pid = 4242},
                                     s, started, now, 5s);
    EXPECT_EQ(m["type"], "heartbeat");
    EXPECT_EQ(m["instance"], "gracedb-dev");
    EXPECT_EQ(m["group"], "gracedb-supervisor-gracedb-dev");
    EXPECT_EQ(m["host"], "node1");
    EXPECT_EQ(m["pid"], 4242);
    EXPECT_EQ(m["version"], "0.1.0");
    EXPECT_DOUBLE_EQ(m["time"].get<double>(), 1764172900.25);
    EXPECT_DOUBLE_EQ(m["started"].get<double>(), 1764172800.0);
    EXPECT_DOUBLE_EQ(m["uptime_s"].get<double>(), 100.25);
    EXPECT_DOUBLE_EQ(m["interval_s"].get<double>(), 5.0);
    EXPECT_EQ(m["counters"]["uploaded"], 7);
    EXPECT_EQ(m["counters"]["already_uploaded"], 2);
    EXPECT_EQ(m["counters"]["dead_lettered"], 1);
    EXPECT_EQ(m["counters"]["retries"], 3);
    EXPECT_EQ(m["in_flight"], 4);
    EXPECT_EQ(m["blocked"], false);
    EXPECT_TRUE(m["blocked_reason"].is_null());
    EXPECT_DOUBLE_EQ(m["last_upload"].get<double>(), 1764172890.0);
    EXPECT_EQ(m["delay_ms"]["events"], kHeartbeatWindow);
    EXPECT_DOUBLE_EQ(m["delay_ms"]["p50"].get<double>(), 128.0);  // nearest rank of 1..256 ms
    EXPECT_DOUBLE_EQ(m["delay_ms"]["p99"].get<double>(), 254.0);
    EXPECT_DOUBLE_EQ(m["delay_ms"]["max"].get<double>(), 256.0);
    EXPECT_LT(m.dump().size(), 1024u) << "a small message";
}

TEST(SupervisorHeartbeat, NoEventYetAndBlocked) {
    SupervisorStats s;
    s.blocked = true;
    s.blocked_reason = "403 from GraceDB";
    const auto t = std::chrono::system_clock::now();
    const auto m = heartbeat_message({.instance = "i", .group = "g", .host = "h", .version = "v", .pid = 1}, s, t,
                                     t, 5s);
    EXPECT_EQ(m["delay_ms"]["events"], 0);
    EXPECT_TRUE(m["delay_ms"]["p50"].is_null());
    EXPECT_TRUE(m["delay_ms"]["p99"].is_null());
    EXPECT_TRUE(m["last_upload"].is_null());
    EXPECT_EQ(m["blocked"], true);
    EXPECT_EQ(m["blocked_reason"], "403 from GraceDB");
}

// Regression (review): the blocked reason quotes the body GraceDB or a proxy answered, cut at 300 bytes; a
// Latin-1 error page, or a cut inside a UTF-8 character, made the heartbeat's JSON unserialisable, and the
// exception ended the supervisor's run(). The reason is now an excerpt in valid UTF-8.
TEST(SupervisorHeartbeat, ABlockedReasonQuotingBytesThatAreNotUtf8IsStillValidJson) {
    SupervisorStats s;
    s.blocked = true;
    s.blocked_reason = "GraceDB is busy or unreachable: HTTP 503: <h1>Service indisponible \xE9t\xE9</h1> \xE2\x82";
    const auto t = std::chrono::system_clock::now();
    const auto m = heartbeat_message({.instance = "i", .group = "g", .host = "h", .version = "v", .pid = 1}, s, t,
                                     t, 5s);
    std::string text;
    ASSERT_NO_THROW(text = m.dump());
    const auto reason = m["blocked_reason"].get<std::string>();
    EXPECT_NE(reason.find("Service indisponible \xEF\xBF\xBDt\xEF\xBF\xBD</h1>"), std::string::npos) << reason;
}

TEST(SupervisorHeartbeat, Utf8ExcerptNeverSplitsACharacterAndReplacesWhatIsInvalid) {
    using gracedb::detail::utf8_excerpt;
    EXPECT_EQ(utf8_excerpt("abc", 2), "ab");
    EXPECT_EQ(utf8_excerpt("a\xC3\xA9", 2), "a") << "a 2-byte character is not cut in half";
    EXPECT_EQ(utf8_excerpt("a\xC3\xA9", 3), "a\xC3\xA9");
    EXPECT_EQ(utf8_excerpt("\xF0\x9F\x98\x80!", 4), "\xF0\x9F\x98\x80");
    EXPECT_EQ(utf8_excerpt("x\xFFy", 10), "x\xEF\xBF\xBDy");
    EXPECT_EQ(utf8_excerpt("\xC0\xAF", 10), "\xEF\xBF\xBD\xEF\xBF\xBD") << "overlong";
    EXPECT_EQ(utf8_excerpt("\xED\xA0\x80", 10), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD") << "a surrogate";
    EXPECT_EQ(utf8_excerpt("ab\xE2\x82", 10), "ab\xEF\xBF\xBD\xEF\xBF\xBD") << "a truncated sequence";
}
