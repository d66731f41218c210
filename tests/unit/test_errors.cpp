#include <gracedb/kafka/errors.hpp>
#include <gtest/gtest.h>

#include <type_traits>

using namespace gracedb::kafka;

// The tree of the Python original, rooted in std::runtime_error.
static_assert(std::is_base_of_v<std::runtime_error, KafkaError>);
static_assert(std::is_base_of_v<KafkaError, KafkaAuthenticationError>);
static_assert(std::is_base_of_v<KafkaAuthenticationError, KafkaTokenError>);
static_assert(std::is_base_of_v<KafkaError, KafkaProducerError>);
static_assert(std::is_base_of_v<KafkaProducerError, KafkaMessageDeliveryError>);
static_assert(std::is_base_of_v<KafkaError, KafkaConsumerError>);
static_assert(std::is_base_of_v<KafkaError, KafkaConnectionError>);
static_assert(!std::is_base_of_v<KafkaProducerError, KafkaConsumerError>);
static_assert(!std::is_base_of_v<KafkaAuthenticationError, KafkaConnectionError>);

namespace {
template <class Thrown, class Caught>
bool caught_as(const char* what) {
    try {
        throw Thrown(what);
    } catch (const Caught& e) {
        return std::string{e.what()} == what;
    } catch (...) {
        return false;
    }
}
}  // namespace

TEST(Errors, CaughtThroughTheirBases) {
    EXPECT_TRUE((caught_as<KafkaTokenError, KafkaAuthenticationError>("no token")));
    EXPECT_TRUE((caught_as<KafkaTokenError, KafkaError>("no token")));
    EXPECT_TRUE((caught_as<KafkaTokenError, std::runtime_error>("no token")));
    EXPECT_TRUE((caught_as<KafkaMessageDeliveryError, KafkaProducerError>("lost")));
    EXPECT_TRUE((caught_as<KafkaConsumerError, KafkaError>("poll")));
    EXPECT_TRUE((caught_as<KafkaConnectionError, KafkaError>("down")));
}

TEST(Errors, SiblingsDoNotCatchEachOther) {
    EXPECT_FALSE((caught_as<KafkaConsumerError, KafkaProducerError>("x")));
    EXPECT_FALSE((caught_as<KafkaConnectionError, KafkaAuthenticationError>("x")));
    EXPECT_FALSE((caught_as<KafkaProducerError, KafkaMessageDeliveryError>("x")));
}
