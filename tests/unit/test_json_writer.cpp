// The fast JSON text path must write exactly what nlohmann's dump() writes.
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "common/json_writer.hpp"

using gracedb::detail::to_json_text;
using nlohmann::json;

TEST(JsonWriter, SameTextAsDump) {
    const std::vector<json> values = {
        json(nullptr), json(true), json(false), json(0), json(-42), json(std::numeric_limits<std::int64_t>::min()),
        json(std::numeric_limits<std::uint64_t>::max()), json(1.5), json(0.1), json(123456.789),
        json("plain"), json("quote \" backslash \\ slash / tab \t newline \n nul-ish \x01"),
        json("unicode: é 中文 🚀"), json::array(), json::object(),
        json{{"graceid", "G123"}, {"eventFile", {"coinc.xml", "PD94bWw="}}, {"offline", false}, {"labels", json::array()},
             {"_producer_timestamp", 1764172800.123}, {"nested", {{"a", {1, 2, {{"b", nullptr}}}}}}},
    };
    for (const auto& v : values) EXPECT_EQ(to_json_text(v), v.dump()) << v.dump();
}

TEST(JsonWriter, ExponentsMayBeSpelledDifferentlyButReadBackTheSame) {
    for (double d : {1e300, -2.5e-8, 6.02214076e23, 5e-324}) {
        const auto text = to_json_text(json(d));
        EXPECT_EQ(json::parse(text).get<double>(), d) << text;
    }
}

TEST(JsonWriter, NonFiniteNumbersBecomeNullAsInDump) {
    json v = {{"nan", std::numeric_limits<double>::quiet_NaN()}, {"inf", std::numeric_limits<double>::infinity()}};
    EXPECT_EQ(to_json_text(v), v.dump());
}

TEST(JsonWriter, InvalidUtf8IsRefused) {
    EXPECT_THROW(to_json_text(json("bad \xff byte")), std::invalid_argument);
    EXPECT_THROW(to_json_text(json::binary({1, 2})), std::invalid_argument);
}

TEST(JsonWriter, RandomStringsAndKeysMatchDump) {
    // Every position of every character that needs escaping, across the 8-byte fast-path boundaries.
    std::mt19937 rng{7};
    const std::string specials = std::string{"\"\\/\b\f\n\r\t\x01\x1f\x7f"} + "é" + "中";
    for (int n = 0; n < 2000; ++n) {
        std::string s(rng() % 40, 'a');
        for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
        if (n % 2 && !s.empty()) {
            const auto pos = rng() % s.size();
            const auto pick = specials.substr(rng() % 11, 1);
            s.replace(pos, 1, pick);
        }
        json v = {{s, s}, {"k", json::array({s, 1})}};
        const auto text = to_json_text(v);
        // Same text but for the case of \u00XX hex digits (RapidJSON writes them upper-case).
        ASSERT_EQ(json::parse(text), v) << text;
        ASSERT_EQ(text.size(), v.dump().size()) << text;
    }
}

// Issue 12: RapidJSON 1.1.0's UTF8::Validate takes every continuation byte its lead byte announces without
// looking at the end, so a string whose last byte starts an incomplete character was read past its end (a heap
// over-read that ASan reports; without ASan the result was right by luck: the NUL after the text fails the
// check). Every incomplete tail, at lengths that put the string on the heap with no spare capacity.
TEST(JsonWriter, IncompleteCharacterAtTheEndIsRefusedWithoutReadingPastIt) {
    const std::vector<std::string> tails = {"\xC3", "\xE2", "\xE2\x82", "\xF0", "\xF0\x9F", "\xF0\x9F\x9A",
                                            "\xC3\xA9\xF0"};
    for (std::size_t n : {0u, 1u, 7u, 16u, 24u, 31u, 64u}) {
        for (const auto& tail : tails) {
            // Built by assign into a fresh string: the allocation holds exactly size() + 1 bytes.
            const std::string s = std::string(n, 'a') + tail;
            const std::string exact{s.data(), s.size()};
            EXPECT_THROW(to_json_text(json(exact)), std::invalid_argument) << n << " + " << json(tail.size());
            EXPECT_THROW(to_json_text(json{{exact, 1}}), std::invalid_argument) << "as a key";
        }
    }
    // The same characters complete are fine, and what dump() writes.
    const std::string ok = std::string(24, 'a') + "\xC3\xA9\xF0\x9F\x9A\x80";
    EXPECT_EQ(to_json_text(json(ok)), json(ok).dump());
}

// The validator agrees with nlohmann's (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
TEST(JsonWriter, Utf8ValidityAgreesWithDump) {
    const std::vector<std::string> cases = {
        "\xC0\x80", "\xC1\xBF", "\xC2\x80", "\xDF\xBF", "\xE0\x9F\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF",
        "\xED\xA0\x80", "\xED\xBF\xBF", "\xEE\x80\x80", "\xEF\xBF\xBF", "\xF0\x8F\xBF\xBF", "\xF0\x90\x80\x80",
        "\xF4\x8F\xBF\xBF", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF", "\x80", "\xC3\x28", "\xE2\x28\xA1",
        "\xF0\x28\x8C\xBC", "\xF0\x90\x28\xBC", "\xF0\x90\x8C\x28"};
    for (const auto& c : cases) {
        const json v = "x" + c + "y";
        bool dump_ok = true;
        try {
            (void)v.dump();
        } catch (const json::type_error&) {
            dump_ok = false;
        }
        if (dump_ok)
            EXPECT_EQ(to_json_text(v), v.dump());
        else
            EXPECT_THROW(to_json_text(v), std::invalid_argument) << json::binary({c.begin(), c.end()}).dump();
    }
}
