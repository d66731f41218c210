// SciToken discovery, matching and refresh, without a network.
#include <gracedb/kafka/auth.hpp>
#include <gracedb/kafka/errors.hpp>
#include <gracedb/log.hpp>
#include <gracedb/scitoken.hpp>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

#include "client/auth/token_provider.hpp"
#include "fakejwt.hpp"
#include "log_capture.hpp"
#include "token_secrecy.hpp"
#include "client/kafka/client.hpp"
#include "testrig.hpp"

using namespace gracedb;
using namespace gracedb::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Isolates the discovery environment: the three variables saved and cleared, XDG_RUNTIME_DIR pointed at a
// private folder, and every log line captured (to prove no token is ever logged).
class Discovery : public ::testing::Test {
protected:
    void SetUp() override {
        for (const char* v : {"BEARER_TOKEN", "BEARER_TOKEN_FILE", "XDG_RUNTIME_DIR"}) {
            if (const char* old = std::getenv(v)) saved_.emplace_back(v, old);
            ::unsetenv(v);
        }
        dir_ = fs::temp_directory_path() / ("gracedb-scitoken-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        ::setenv("XDG_RUNTIME_DIR", dir_.c_str(), 1);
        capture_.emplace(LogLevel::debug);
    }
    void TearDown() override {
        capture_.reset();
        for (const char* v : {"BEARER_TOKEN", "BEARER_TOKEN_FILE", "XDG_RUNTIME_DIR"}) ::unsetenv(v);
        for (const auto& [k, v] : saved_) ::setenv(k.c_str(), v.c_str(), 1);
        fs::remove_all(dir_);
    }
    fs::path xdg_file() const { return dir_ / ("bt_u" + std::to_string(::geteuid())); }
    void write(const fs::path& p, const std::string& text) { write_secret_file(p, text); }
    std::string log() const { return capture_->text(); }
    // Neither the token nor a part of it appears in `text` (the log, an error's message).
    static void expect_no_token(const std::string& text, const std::string& token) {
        gracedb::testing::expect_no_token(text, token, "this text:\n" + text);
    }

    fs::path dir_;
    std::vector<std::pair<std::string, std::string>> saved_;
    std::optional<LogCapture> capture_;
};

const TokenRequirements kafka_produce{"kafka.example.org", "kafka.produce"};

}  // namespace

TEST_F(Discovery, BearerTokenComesFirst) {
    const auto a = fake_jwt(claims_for("kafka.example.org", "kafka.produce", 600, "from-env"));
    const auto b = fake_jwt(claims_for("kafka.example.org", "kafka.produce", 600, "from-file"));
    ::setenv("BEARER_TOKEN", a.c_str(), 1);
    write(dir_ / "file", b);
    ::setenv("BEARER_TOKEN_FILE", (dir_ / "file").c_str(), 1);
    write(xdg_file(), b);
    auto s = find_scitoken(kafka_produce);
    ASSERT_TRUE(s.token);
    EXPECT_EQ(s.token->token, a);
    EXPECT_EQ(s.token->source, "$BEARER_TOKEN");
    EXPECT_TRUE(s.token->matches);
}

TEST_F(Discovery, BearerTokenFileComesSecond) {
    const auto b = fake_jwt(claims_for("kafka.example.org", "kafka.produce", 600, "from-file"));
    write(dir_ / "file", "  \n\t" + b + " \n\n");  // whitespace around the token is stripped
    ::setenv("BEARER_TOKEN_FILE", (dir_ / "file").c_str(), 1);
    write(xdg_file(), fake_jwt(claims_for("kafka.example.org", "kafka.produce", 600, "from-xdg")));
    auto s = find_scitoken(kafka_produce);
    ASSERT_TRUE(s.token);
    EXPECT_EQ(s.token->token, b);
    EXPECT_EQ(s.token->claims.sub, "from-file");
}

TEST_F(Discovery, EmptyValuesMeanGoOn) {
    ::setenv("BEARER_TOKEN", "   ", 1);
    write(dir_ / "empty", "\n");
    ::setenv("BEARER_TOKEN_FILE", (dir_ / "empty").c_str(), 1);
    const auto c = fake_jwt(claims_for("kafka.example.org", "kafka.produce", 600, "from-xdg"));
    write(xdg_file(), c + "\n");
    auto s = find_scitoken(kafka_produce);
    ASSERT_TRUE(s.token);
    EXPECT_EQ(s.token->token, c);
    ASSERT_EQ(s.places.size(), 3u);
    EXPECT_EQ(s.places[0].finding, "empty");
    EXPECT_EQ(s.places[1].finding, "empty");
}

TEST_F(Discovery, XdgRuntimeDirIsThirdAndListsEveryPlace) {
    auto s = find_scitoken(kafka_produce);
    EXPECT_FALSE(s.token);
    const auto text = s.describe_places();
    EXPECT_NE(text.find("$BEARER_TOKEN (unset)"), std::string::npos) << text;
    EXPECT_NE(text.find("$BEARER_TOKEN_FILE (unset)"), std::string::npos) << text;
    EXPECT_NE(text.find(xdg_file().string() + " (missing)"), std::string::npos) << text;
}

TEST_F(Discovery, MissingBearerTokenFileIsReported) {
    ::setenv("BEARER_TOKEN_FILE", (dir_ / "nope").c_str(), 1);
    auto s = find_scitoken(kafka_produce);
    EXPECT_FALSE(s.token);
    EXPECT_NE(s.describe_places().find((dir_ / "nope").string() + " (missing)"), std::string::npos);
}

TEST_F(Discovery, SerialTmpFallbackWithoutXdgRuntimeDir) {
    ::unsetenv("XDG_RUNTIME_DIR");
    const fs::path tmp = "/tmp/bt_u" + std::to_string(::geteuid());
    const bool existed = fs::exists(tmp);
    const std::string old = existed ? read_file(tmp) : "";
    const auto t = fake_jwt(claims_for("kafka.example.org", "kafka.produce", 600, "from-tmp"));
    write(tmp, t);
    auto s = find_scitoken(kafka_produce);
    if (existed) write(tmp, old); else fs::remove(tmp);
    ASSERT_TRUE(s.token);
    EXPECT_EQ(s.token->source, tmp.string());
    EXPECT_EQ(s.token->claims.sub, "from-tmp");
}

// Token files are judged as OpenSSH judges a private key: this user's own regular file, no permission for
// group or others. They used to be read whatever their owner and mode.
TEST_F(Discovery, TokenFilesOpenToGroupOrOthersAreRefusedAndSaySo) {
    const auto t = fake_jwt(claims_for("kafka.example.org", "kafka.produce", 600, "from-file"));
    const fs::path file = dir_ / "token";
    ::setenv("BEARER_TOKEN_FILE", file.c_str(), 1);
    for (const mode_t mode : {0666, 0620, 0644, 0640, 0604, 0602, 0660}) {
        write(file, t);
        ASSERT_EQ(::chmod(file.c_str(), mode), 0);
        const auto s = find_scitoken(kafka_produce);
        char shown[8];
        std::snprintf(shown, sizeof shown, "%04o", static_cast<unsigned>(mode));
        SCOPED_TRACE(shown);
        EXPECT_FALSE(s.token) << "a token file with mode " << shown << " was used";
        ASSERT_EQ(s.places.size(), 3u);
        EXPECT_NE(s.places[1].finding.find(std::string{"refused: mode "} + shown), std::string::npos)
            << s.places[1].finding;
        EXPECT_NE(s.places[1].finding.find("chmod 600 " + file.string()), std::string::npos)
            << s.places[1].finding;
        expect_no_token(s.describe_places(), t);
    }
    expect_no_token(log(), t);
    EXPECT_NE(log().find(file.string() + " refused: mode"), std::string::npos) << "a warning says so:\n"
                                                                               << log();
    for (const mode_t mode : {0600, 0400}) {
        write(file, t);
        ASSERT_EQ(::chmod(file.c_str(), mode), 0);
        const auto s = find_scitoken(kafka_produce);
        ASSERT_TRUE(s.token) << "mode " << std::oct << mode << ": " << s.describe_places();
        EXPECT_EQ(s.token->claims.sub, "from-file");
    }
    fs::remove(file);
    ASSERT_EQ(::mkfifo(file.c_str(), 0600), 0);  // nothing writes to it: reading it would block
    const auto s = find_scitoken(kafka_produce);
    EXPECT_FALSE(s.token);
    EXPECT_EQ(s.places[1].finding, "refused: not a regular file");
}

TEST_F(Discovery, TokenFilesOfAnotherUserAreRefusedAndSaySo) {
    if (::geteuid() != 0) GTEST_SKIP() << "only root can give a file to another user";
    const auto t = fake_jwt(claims_for("kafka.example.org", "kafka.produce", 600, "planted"));
    write(xdg_file(), t);
    ASSERT_EQ(::chown(xdg_file().c_str(), 65534, 65534), 0);
    const auto s = find_scitoken(kafka_produce);
    EXPECT_FALSE(s.token) << "a file of uid 65534 was used";
    ASSERT_EQ(s.places.size(), 3u);
    EXPECT_NE(s.places[2].finding.find("refused: owned by uid 65534, not by this user (uid 0)"),
              std::string::npos)
        << s.places[2].finding;
    EXPECT_NE(s.places[2].finding.find("chown"), std::string::npos) << s.places[2].finding;
    expect_no_token(s.describe_places() + log(), t);
}

// Without $XDG_RUNTIME_DIR discovery reads /tmp/bt_u<uid>, which any local user can create first.
TEST_F(Discovery, SerialATokenPlantedInTmpByAnotherUserIsRefused) {
    if (::geteuid() != 0) GTEST_SKIP() << "only root can give a file to another user";
    ::unsetenv("XDG_RUNTIME_DIR");
    const fs::path tmp = "/tmp/bt_u" + std::to_string(::geteuid());
    const bool existed = fs::exists(tmp);
    const std::string old = existed ? read_file(tmp) : "";
    const auto t = fake_jwt(claims_for("kafka.example.org", "kafka.produce", 600, "planted"));
    write(tmp, t);
    ::chown(tmp.c_str(), 65534, 65534);
    std::optional<detail::NoUsableToken> refused;
    try {
        detail::TokenProvider provider{kafka_produce, 60s, true, "Kafka (test)"};
    } catch (const detail::NoUsableToken& e) {
        refused = e;
    }
    if (existed) write(tmp, old); else fs::remove(tmp);
    ASSERT_TRUE(refused) << "the planted token was used";
    EXPECT_EQ(refused->code(), Errc::token_unusable);
    const std::string what = refused->what();
    EXPECT_NE(what.find(tmp.string() + " (refused: owned by uid 65534"), std::string::npos) << what;
    expect_no_token(what + log(), t);
}

TEST_F(Discovery, AMatchingTokenLaterWinsOverAMismatchEarlier) {
    const auto wrong = fake_jwt(claims_for("other.example.org", "kafka.produce", 600, "wrong-aud"));
    const auto right = fake_jwt(claims_for("kafka.example.org", "kafka.produce", 600, "right"));
    ::setenv("BEARER_TOKEN", wrong.c_str(), 1);
    write(xdg_file(), right);
    auto s = find_scitoken(kafka_produce);
    ASSERT_TRUE(s.token);
    EXPECT_EQ(s.token->claims.sub, "right");
    EXPECT_TRUE(s.token->matches);
    EXPECT_NE(s.places[0].finding.find("lacks \"kafka.example.org\""), std::string::npos) << s.places[0].finding;
}

TEST_F(Discovery, FallsBackToTheFirstUnexpiredTokenAndWarns) {
    const auto expired = fake_jwt(claims_for("kafka.example.org", "kafka.produce", -100, "expired"));
    const auto wrong = fake_jwt(claims_for("other.example.org", "gracedb.read", 600, "mismatch"));
    ::setenv("BEARER_TOKEN", expired.c_str(), 1);
    write(xdg_file(), wrong);
    auto s = find_scitoken(kafka_produce);
    ASSERT_TRUE(s.token);
    EXPECT_EQ(s.token->claims.sub, "mismatch");
    EXPECT_FALSE(s.token->matches);
    EXPECT_NE(s.places[0].finding.find("expired at"), std::string::npos);

    kafka::SciTokenRefreshManager manager{"kafka.example.org:9092"};
    EXPECT_EQ(manager.get_token(), wrong);
    EXPECT_NE(log().find("falling back"), std::string::npos) << log();
    expect_no_token(log(), wrong);
    expect_no_token(log(), expired);
}

TEST_F(Discovery, AnExpiredTokenIsNeverHandedOut) {
    const auto expired = fake_jwt(claims_for("kafka.example.org", "kafka.produce", -1, "expired"));
    ::setenv("BEARER_TOKEN", expired.c_str(), 1);
    EXPECT_FALSE(find_scitoken(kafka_produce).token);
    try {
        kafka::get_scitoken_for_kafka("kafka.example.org:9092");
        FAIL() << "expected KafkaTokenError";
    } catch (const kafka::KafkaTokenError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("$BEARER_TOKEN (expired at"), std::string::npos) << what;
        EXPECT_NE(what.find("$BEARER_TOKEN_FILE (unset)"), std::string::npos) << what;
        EXPECT_NE(what.find(xdg_file().string() + " (missing)"), std::string::npos) << what;
        expect_no_token(what, expired);
    }
}

TEST_F(Discovery, MalformedTokensAreReportedNotUsed) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"onlytwo.parts", "has 2 part(s)"},
        {"a.b.c.d", "has 4 part(s)"},
        {"eyJhbGciOiJSUzI1NiJ9.not*base64.sig", "not valid base64url"},
        {base64url_encode("{}") + "." + base64url_encode("not json") + ".sig", "payload is not JSON"},
        {base64url_encode("{}") + "." + base64url_encode("[1,2]") + ".sig", "not a JSON object"},
        {fake_jwt({{"sub", "x"}, {"aud", "kafka.example.org"}, {"scope", "kafka.produce"}, {"exp", "soon"}}),
         "\"exp\" claim is not a number"},
        {fake_jwt({{"sub", "x"}, {"aud", "kafka.example.org"}, {"scope", "kafka.produce"}}), "no numeric \"exp\""},
    };
    for (const auto& [token, why] : cases) {
        ::setenv("BEARER_TOKEN", token.c_str(), 1);
        auto s = find_scitoken(kafka_produce);
        EXPECT_FALSE(s.token) << why;
        EXPECT_NE(s.places[0].finding.find(why), std::string::npos) << s.places[0].finding;
        try {
            kafka::SciTokenRefreshManager manager{"kafka.example.org:9092"};
            ADD_FAILURE() << "expected KafkaTokenError for " << why;
        } catch (const kafka::KafkaTokenError& e) {
            EXPECT_NE(std::string{e.what()}.find(why), std::string::npos) << e.what();
            if (token.find('.') != std::string::npos && token.size() > 20) expect_no_token(e.what(), token);
        }
    }
}

TEST(TokenClaims, ParseRejectsWithReasons) {
    EXPECT_THROW(parse_token_claims(""), std::invalid_argument);
    EXPECT_THROW(parse_token_claims("a.b"), std::invalid_argument);
    auto c = parse_token_claims(fake_jwt({{"sub", "s"}, {"aud", {"a", "b"}}, {"exp", 2000000000.5}, {"nbf", 1}}));
    EXPECT_EQ(c.sub, "s");
    EXPECT_EQ(c.aud, (std::vector<std::string>{"a", "b"}));
    ASSERT_TRUE(c.exp);
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(c.exp->time_since_epoch()).count(), 2000000000500);
    EXPECT_TRUE(c.nbf);
    EXPECT_FALSE(c.iat);
}

// Issue 12: exp=9999999999 (a common "never") overflowed the seconds-to-nanoseconds conversion (undefined
// behaviour; it read as "expired at 1677-09-21"). Times past what the clock holds saturate at 2200-01-01.
TEST(TokenClaims, FarFutureAndFarPastTimesSaturate) {
    using nlohmann::json;
    using std::chrono::system_clock;
    const auto year_2200 = system_clock::time_point{std::chrono::seconds{7258118400}};
    for (const json& exp : {json(9999999999), json(9999999999.5), json(1e300), json(std::numeric_limits<std::int64_t>::max()),
                           json(std::numeric_limits<std::uint64_t>::max()), json(7258118400)}) {
        const auto c = parse_token_claims(fake_jwt({{"exp", exp}, {"nbf", exp}, {"iat", exp}}));
        ASSERT_TRUE(c.exp && c.nbf && c.iat) << exp;
        EXPECT_EQ(*c.exp, year_2200) << exp;
        EXPECT_EQ(*c.nbf, year_2200) << exp;
        EXPECT_EQ(*c.iat, year_2200) << exp;
        EXPECT_NE(c.describe().find("exp=2200-01-01T00:00:00Z"), std::string::npos) << c.describe();
    }
    for (const json& past : {json(-9999999999), json(-1e300), json(std::numeric_limits<std::int64_t>::min()), json(-1)}) {
        const auto c = parse_token_claims(fake_jwt({{"exp", past}}));
        ASSERT_TRUE(c.exp) << past;
        EXPECT_EQ(*c.exp, system_clock::time_point{}) << past;
    }
    // In range: unchanged, to the nanosecond the double holds.
    const auto c = parse_token_claims(fake_jwt({{"exp", 7258118399}}));
    EXPECT_EQ(c.exp->time_since_epoch(), std::chrono::seconds{7258118399});
}

TEST_F(Discovery, ATokenThatNeverExpiresIsUsable) {
    auto claims = claims_for("kafka.example.org", "kafka.produce", 600);
    claims["exp"] = 9999999999;
    ::setenv("BEARER_TOKEN", fake_jwt(claims).c_str(), 1);
    const auto s = find_scitoken(kafka_produce);
    ASSERT_TRUE(s.token) << s.describe_places();
    EXPECT_TRUE(s.token->matches) << s.describe_places();
    EXPECT_NE(s.places[0].finding.find("usable"), std::string::npos) << s.places[0].finding;
    // And the refresh arithmetic built on it stays in range (re-read due 300 s before 2200).
    detail::TokenProvider p{kafka_produce, 300s, true, "test"};
    EXPECT_GT(p.next_refresh(), std::chrono::system_clock::now() + 24h * 365 * 100);
    EXPECT_EQ(p.current().expiry - p.next_refresh(), 300s);
}

TEST(TokenClaims, AudienceAsStringListAnyAndWlcgAny) {
    auto one = parse_token_claims(fake_jwt({{"aud", "kafka.example.org"}, {"exp", 1}}));
    EXPECT_TRUE(one.has_audience("kafka.example.org"));
    EXPECT_FALSE(one.has_audience("kafka.example"));
    auto list = parse_token_claims(fake_jwt({{"aud", {"x", "kafka.example.org"}}, {"exp", 1}}));
    EXPECT_TRUE(list.has_audience("kafka.example.org"));
    EXPECT_FALSE(list.has_audience("y"));
    EXPECT_TRUE(parse_token_claims(fake_jwt({{"aud", "ANY"}, {"exp", 1}})).has_audience("whatever"));
    EXPECT_TRUE(parse_token_claims(fake_jwt({{"aud", {"https://wlcg.cern.ch/jwt/v1/any"}}, {"exp", 1}}))
                    .has_audience("whatever"));
    EXPECT_FALSE(parse_token_claims(fake_jwt({{"exp", 1}})).has_audience("whatever"));
}

TEST(TokenClaims, ScopeMatchesWholeWords) {
    auto c = parse_token_claims(fake_jwt({{"scope", "kafka.producer gracedb.read kafka.consume:/gracedb"}, {"exp", 1}}));
    EXPECT_FALSE(c.has_scope("kafka.produce"));
    EXPECT_TRUE(c.has_scope("kafka.producer"));
    EXPECT_TRUE(c.has_scope("gracedb.read"));
    EXPECT_FALSE(c.has_scope("gracedb"));
    EXPECT_TRUE(c.has_scope("kafka.consume"));
}

TEST_F(Discovery, ScopeMismatchIsReported) {
    ::setenv("BEARER_TOKEN", fake_jwt(claims_for("kafka.example.org", "kafka.producer", 600)).c_str(), 1);
    auto s = find_scitoken(kafka_produce);
    ASSERT_TRUE(s.token);
    EXPECT_FALSE(s.token->matches);
    EXPECT_NE(s.places[0].finding.find("scope \"kafka.producer\" lacks \"kafka.produce\""), std::string::npos);
}

TEST_F(Discovery, DefaultAudienceIsTheFirstBrokersHost) {
    EXPECT_EQ(kafka::default_kafka_audience("kafka-dev.ligo.org:9092"), "kafka-dev.ligo.org");
    EXPECT_EQ(kafka::default_kafka_audience("a.example:1,b.example:2"), "a.example");
    EXPECT_EQ(kafka::default_kafka_audience("SASL_SSL://k.example:9093"), "k.example");
    EXPECT_EQ(kafka::default_kafka_audience("[::1]:9092"), "::1");
    const auto t = fake_jwt(claims_for("kafka-dev.ligo.org", "kafka.produce", 600));
    ::setenv("BEARER_TOKEN", t.c_str(), 1);
    EXPECT_EQ(kafka::get_scitoken_for_kafka("kafka-dev.ligo.org:9092"), t);
    auto cb = kafka::create_oauth_callback("kafka-dev.ligo.org:9092");
    auto o = cb("");
    EXPECT_EQ(o.token, t);
    EXPECT_EQ(o.principal, "pipeline");
    EXPECT_GT(o.expiry, std::chrono::system_clock::now() + 500s);
}

TEST_F(Discovery, RefreshIsScheduledBeforeExpiry) {
    using Clock = std::chrono::system_clock;
    write(xdg_file(), fake_jwt(claims_for("kafka.example.org", "kafka.produce", 3600)));
    kafka::SciTokenRefreshManager long_lived{"kafka.example.org:9092", "kafka.produce", std::nullopt, 300s};
    const auto exp = *long_lived.claims().exp;
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(exp - long_lived.next_refresh()).count(), 300);

    // A lifetime shorter than the buffer: due at 80% of what is left when the token is adopted. Asserted
    // against the instants around the construction, not a wall-clock window a loaded machine could break.
    write(xdg_file(), fake_jwt(claims_for("kafka.example.org", "kafka.produce", 10)));
    const auto before = Clock::now();
    kafka::SciTokenRefreshManager short_lived{"kafka.example.org:9092", "kafka.produce", std::nullopt, 300s};
    const auto after = Clock::now();
    const auto short_exp = *short_lived.claims().exp;
    auto at_80_percent = [&](Clock::time_point adopted) { return adopted + (short_exp - adopted) * 4 / 5; };
    EXPECT_GE(short_lived.next_refresh(), at_80_percent(before) - 1ms);
    EXPECT_LE(short_lived.next_refresh(), at_80_percent(after) + 1ms);
    EXPECT_LT(short_lived.next_refresh(), short_exp) << "before expiry";

    write(xdg_file(), fake_jwt(claims_for("kafka.example.org", "kafka.produce", 1)));
    kafka::SciTokenRefreshManager very_short{"kafka.example.org:9092", "kafka.produce", std::nullopt, 300s};
    EXPECT_GE(very_short.next_refresh() - Clock::now(), 900ms) << "never more often than once a second";
}

TEST_F(Discovery, RenewedTokenOnDiskIsPickedUp) {
    const auto a = fake_jwt(claims_for("kafka.example.org", "kafka.produce", 3, "first"));
    write(xdg_file(), a);
    kafka::SciTokenRefreshManager m{"kafka.example.org:9092", "kafka.produce", std::nullopt, 300s};
    EXPECT_EQ(m.get_token(), a);
    const auto b = fake_jwt(claims_for("kafka.example.org", "kafka.produce", 600, "second"));
    write(xdg_file(), b);
    EXPECT_EQ(m.get_token(), a) << "not re-read before it is due";
    std::this_thread::sleep_until(m.next_refresh() + 50ms);
    EXPECT_EQ(m.get_token(), b);
    EXPECT_EQ(m.refresh_count(), 1u);
    EXPECT_EQ(m.claims().sub, "second");
    expect_no_token(log(), a);
    expect_no_token(log(), b);
}

TEST_F(Discovery, AFailedReReadKeepsTheLastGoodTokenUntilItExpires) {
    const auto a = fake_jwt(claims_for("kafka.example.org", "kafka.produce", 3, "first"));
    write(xdg_file(), a);
    kafka::SciTokenRefreshManager m{"kafka.example.org:9092", "kafka.produce", std::nullopt, 300s};
    fs::remove(xdg_file());
    std::this_thread::sleep_until(m.next_refresh() + 50ms);
    EXPECT_EQ(m.get_token(), a) << "kept while still valid";
    const auto retry_in = m.next_refresh() - std::chrono::system_clock::now();
    EXPECT_GE(retry_in, 900ms) << "back-off, no spin";
    std::this_thread::sleep_until(*m.claims().exp + 50ms);
    try {
        m.get_token();
        FAIL() << "expected KafkaTokenError after expiry";
    } catch (const kafka::KafkaTokenError& e) {
        EXPECT_NE(std::string{e.what()}.find("expired"), std::string::npos) << e.what();
        expect_no_token(e.what(), a);
    }
}

TEST_F(Discovery, WithoutReloadTheTokenIsReadOnce) {
    const auto a = fake_jwt(claims_for("kafka.example.org", "kafka.produce", 4, "first"));
    write(xdg_file(), a);
    detail::TokenProvider p{kafka_produce, 300s, false, "test"};
    write(xdg_file(), fake_jwt(claims_for("kafka.example.org", "kafka.produce", 600, "second")));
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(p.current().token, a);
    std::this_thread::sleep_until(*p.claims().exp + 50ms);
    EXPECT_THROW(p.current(), detail::NoUsableToken);
}

TEST(Redaction, TokensAreRemovedFromText) {
    const auto t = fake_jwt(claims_for("a", "b", 10));
    const auto out = kafka::detail_client::redact_tokens("before " + t + " after eyJnot-a-token");
    EXPECT_EQ(out, "before [token redacted] after eyJnot-a-token");
}

// The shared check of the secret-hygiene tests (tests/support/token_secrecy.hpp) finds each part of a token
// that may leak: the whole, the payload alone, the signature, and a 32-character piece of the signature.
TEST(TokenSecrecyCheck, FindsTheTokenItsPayloadItsSignatureAndAPieceOfIt) {
    const auto t = fake_jwt(claims_for("a", "b", 10));
    const auto first = t.find('.'), last = t.rfind('.');
    const auto payload = t.substr(first + 1, last - first - 1);
    const auto signature = t.substr(last + 1);
    auto failures = [&](const std::string& text) {
        ::testing::TestPartResultArray results;
        {
            ::testing::ScopedFakeTestPartResultReporter reporter{
                ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results};
            gracedb::testing::expect_no_token(text, t, "the text");
        }
        return results.size();
    };
    EXPECT_EQ(failures("sub \"pipeline\", scope \"b\""), 0) << "a summary of the claims is fine";
    EXPECT_GT(failures("log: " + t), 0) << "the whole token";
    EXPECT_GT(failures("claims " + payload + " end"), 0) << "the payload alone";
    EXPECT_GT(failures("sig " + signature), 0) << "the signature alone";
    EXPECT_GT(failures("cut " + signature.substr(0, 32)), 0) << "a truncated signature";
}
