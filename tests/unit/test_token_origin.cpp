// The one rule for where a GraceDB token may go (detail::token_refusal), shared by the REST client and
// `gracedb-kafka check`; and the bounded, non-throwing libcurl body callback (detail::write_body).
#include <gtest/gtest.h>

#include <string>

#include "common/curl_sink.hpp"
#include "common/url.hpp"

using gracedb::detail::parse_url;
using gracedb::detail::token_refusal;

TEST(TokenOrigin, OnlyTheServicesOwnSchemeHostAndPortOverHttps) {
    const auto service = parse_url("https://GraceDB.example.org/api/");
    EXPECT_FALSE(token_refusal(service, "https://gracedb.example.org/api/reservations/"));
    EXPECT_FALSE(token_refusal(service, "https://gracedb.example.org:443/api/events/G1")) << "default port";
    for (const char* other : {"https://gracedb.example.org:8443/api/", "https://evil.example.org/api/",
                              "http://gracedb.example.org/api/", "https://gracedb.example.org.evil.org/"}) {
        const auto why = token_refusal(service, other);
        ASSERT_TRUE(why) << other;
        EXPECT_NE(why->find("another origin"), std::string::npos) << *why;
        EXPECT_NE(why->find("https://gracedb.example.org:443"), std::string::npos) << "names the service: "
                                                                                   << *why;
    }
    const auto with_password = token_refusal(service, "https://user:secret@evil.example.org/");
    ASSERT_TRUE(with_password);
    EXPECT_NE(with_password->find("***@"), std::string::npos) << *with_password;
    EXPECT_EQ(with_password->find("secret"), std::string::npos) << *with_password;
    EXPECT_TRUE(token_refusal(service, "/api/reservations/")) << "a relative link cannot be checked: refused";
    EXPECT_TRUE(token_refusal(service, "")) << "nothing is no origin";
}

TEST(TokenOrigin, ClearTextOnlyWhenAllowed) {
    const auto local = parse_url("http://localhost:8080/api/");
    const auto why = token_refusal(local, "http://localhost:8080/api/reservations/");
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("clear text"), std::string::npos) << *why;
    EXPECT_FALSE(token_refusal(local, "http://localhost:8080/api/reservations/", true));
    EXPECT_TRUE(token_refusal(local, "http://localhost:8081/api/", true)) << "nor to another port";
}

TEST(BodySink, PastTheLimitTheTransferIsAbortedAndNothingMoreIsKept) {
    gracedb::detail::BodySink sink;
    sink.limit = 10;
    std::string chunk = "123456";
    EXPECT_EQ(gracedb::detail::write_body(chunk.data(), 1, chunk.size(), &sink), 6u);
    EXPECT_EQ(gracedb::detail::write_body(chunk.data(), 1, chunk.size(), &sink), 0u) << "0 aborts it";
    EXPECT_TRUE(sink.too_large);
    EXPECT_EQ(sink.body, "123456");
    EXPECT_NO_THROW(sink.rethrow_failure());
}

TEST(BodySink, AnExceptionStaysOutOfLibcurlAndIsRethrownAfter) {
    gracedb::detail::BodySink sink;
    sink.limit = static_cast<std::size_t>(-1);
    char byte = 'x';
    // More than a std::string can hold: append throws std::length_error (as it would throw std::bad_alloc).
    std::size_t returned = 1;
    EXPECT_NO_THROW(returned = gracedb::detail::write_body(&byte, 1, sink.body.max_size() + 1, &sink));
    EXPECT_EQ(returned, 0u) << "the transfer is aborted";
    EXPECT_FALSE(sink.too_large);
    EXPECT_THROW(sink.rethrow_failure(), std::length_error);
}
