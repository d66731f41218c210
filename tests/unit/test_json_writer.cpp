// The fast JSON text path must write exactly what nlohmann's dump() writes.
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "kafka/json_writer.hpp"

using gracedb::kafka::detail_client::to_json_text;
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
