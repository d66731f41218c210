#include <gracedb/kafka/topics.hpp>
#include <gtest/gtest.h>

#include <string>

#include "throws.hpp"

using namespace gracedb::kafka;

using gracedb::testing::invalid_argument_message;

TEST(DeriveInstanceName, ExamplesOfTheSpecification) {
    EXPECT_EQ(derive_instance_name("https://gracedb-dev.ligo.org/api/"), "gracedb-dev");
    EXPECT_EQ(derive_instance_name("https://gracedb.ligo.org/api/"), "gracedb");
    EXPECT_EQ(derive_instance_name("https://localhost:8080/api/"), "localhost");
}

TEST(DeriveInstanceName, IgnoresPortUserInfoPathQueryAndCase) {
    EXPECT_EQ(derive_instance_name("https://user:secret@GraceDB-Test.LIGO.org:8443/api/v2/?x=1#f"), "gracedb-test");
    EXPECT_EQ(derive_instance_name("http://gracedb-playground.ligo.org"), "gracedb-playground");
    EXPECT_EQ(derive_instance_name("https://127.0.0.1:8080/api/"), "127");
}

TEST(DeriveInstanceName, RejectsWhatHasNoHostNamingTheInput) {
    auto msg = invalid_argument_message([] { derive_instance_name("gracedb-dev.ligo.org/api/"); });
    EXPECT_NE(msg.find("gracedb-dev.ligo.org/api/"), std::string::npos) << msg;
    msg = invalid_argument_message([] { derive_instance_name(""); });
    EXPECT_NE(msg.find("service URL \"\""), std::string::npos) << msg;
    invalid_argument_message([] { derive_instance_name("https:///api/"); });
    invalid_argument_message([] { derive_instance_name("not a url"); });
    invalid_argument_message([] { derive_instance_name("https://"); });
}

TEST(DeriveInstanceName, RejectsAHostThatCannotNameATopic) {
    auto msg = invalid_argument_message([] { derive_instance_name("https://[::1]:8080/api/"); });
    EXPECT_NE(msg.find("instance_name"), std::string::npos) << "says what to do: " << msg;
}

TEST(MakeTopicName, JoinsWithADot) {
    EXPECT_EQ(make_topic_name("gracedb-dev", "gstlal"), "gracedb-dev.gstlal");
    EXPECT_EQ(make_topic_name("gracedb", "aframe"), "gracedb.aframe");
    EXPECT_EQ(make_topic_name("gracedb-test", "cwb"), "gracedb-test.cwb");
    EXPECT_EQ(make_topic_name("a", "b.c_d-E9"), "a.b.c_d-E9");
}

TEST(MakeTopicName, RejectsIllegalNamesAtOnce) {
    auto msg = invalid_argument_message([] { make_topic_name("gracedb-dev", "gst lal"); });
    EXPECT_NE(msg.find("gracedb-dev.gst lal"), std::string::npos) << msg;
    EXPECT_NE(msg.find("\" \""), std::string::npos) << "names the bad character: " << msg;
    invalid_argument_message([] { make_topic_name("", "gstlal"); });
    invalid_argument_message([] { make_topic_name("gracedb", ""); });
    invalid_argument_message([] { make_topic_name("gracedb.dev", "gstlal"); });
    invalid_argument_message([] { make_topic_name("gracedb", "gst/lal"); });
    invalid_argument_message([] { make_topic_name("gracedb", "gst\xc3\xa9"); });
}

TEST(MakeTopicName, LengthLimitIsKafkas) {
    const std::string instance = "gracedb";
    const std::string longest(max_topic_name_length - instance.size() - 1, 'p');
    EXPECT_EQ(make_topic_name(instance, longest).size(), max_topic_name_length);
    auto msg = invalid_argument_message([&] { make_topic_name(instance, longest + "p"); });
    EXPECT_NE(msg.find("250 characters"), std::string::npos) << msg;
}

TEST(ParseTopicName, SplitsAtTheFirstDot) {
    EXPECT_EQ(parse_topic_name("gracedb-dev.gstlal"), (std::pair<std::string, std::string>{"gracedb-dev", "gstlal"}));
    EXPECT_EQ(parse_topic_name("gracedb.a.b"), (std::pair<std::string, std::string>{"gracedb", "a.b"}));
}

TEST(ParseTopicName, RoundTripsMakeTopicName) {
    for (auto [i, p] : {std::pair{"gracedb-dev", "gstlal"}, {"x", "y.z"}, {"G_1", "MBTA-2"}})
        EXPECT_EQ(parse_topic_name(make_topic_name(i, p)), (std::pair<std::string, std::string>{i, p}));
}

TEST(ParseTopicName, RejectsWhatIsNotNamespaced) {
    auto msg = invalid_argument_message([] { parse_topic_name("gstlal"); });
    EXPECT_NE(msg.find("gstlal"), std::string::npos) << msg;
    invalid_argument_message([] { parse_topic_name(".gstlal"); });
    invalid_argument_message([] { parse_topic_name("gracedb."); });
    invalid_argument_message([] { parse_topic_name(""); });
    invalid_argument_message([] { parse_topic_name("gracedb.gst lal"); });
}

TEST(ValidateTopicName, KafkasRules) {
    EXPECT_NO_THROW(validate_topic_name("a"));
    EXPECT_NO_THROW(validate_topic_name("gracedb-dev.gstlal"));
    invalid_argument_message([] { validate_topic_name("."); });
    invalid_argument_message([] { validate_topic_name(".."); });
    invalid_argument_message([] { validate_topic_name("a:b"); });
    invalid_argument_message([] { validate_topic_name(std::string(250, 'a')); });
}
