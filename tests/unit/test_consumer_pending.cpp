// Regression (issue 11, loss path 2): the consumer dropped a message it had fetched when a pending error was
// raised in the same poll(). librdkafka serves error_cb inside rd_kafka_consumer_poll, and the poll that
// served it may also return a message; the old poll() then threw the pending error instead of returning the
// message, whose offset (stored automatically) was committed: the message was lost. With librdkafka 2.0.2 an
// authentication error comes at every token expiry.
//
// The mock cluster has no SASL, so librdkafka never reports an authentication error there. These tests
// deliver one exactly as librdkafka does: a call of the consumer's error_cb (ClientCore::on_error) with the
// handle and its opaque, reached through the private test peer. They wait until the messages are fetched
// into the consumer (so that a message is at hand when the error is pending) before injecting it.
#include <gracedb/kafka.hpp>
#include <gracedb/testing/mock_cluster.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/rdkafka.hpp"
#include "client/kafka/client.hpp"
#include "client/kafka/consumer_peer.hpp"
#include "rawkafka.hpp"

using namespace gracedb::kafka;
using gracedb::testing::MockCluster;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
using Peer = detail_consumer_peer;

constexpr int kMessages = 5;
constexpr auto kDeadline = 30s;  // for events that take milliseconds on an idle machine
const std::string kAuthError = "KafkaAuthenticationError";

ProducerOptions producer_options(const MockCluster& cluster) {
    return {.bootstrap_servers = cluster.bootstrap_servers(),
            .instance_name = "mock",
            .use_ssl = false,
            .kafka_config = {{"security.protocol", "plaintext"}}};
}

ConsumerOptions consumer_options(const MockCluster& cluster, std::optional<std::string> group = std::nullopt) {
    return {.bootstrap_servers = cluster.bootstrap_servers(),
            .topics = {"pending"},
            .instance_name = "mock",
            .group_id = std::move(group),
            .use_ssl = false,
            .auto_offset_reset = "earliest",
            .kafka_config = {{"security.protocol", "plaintext"}}};
}

// Messages "m<first>" .. "m<last>" (offsets first..last of the topic's only partition).
void produce(const MockCluster& cluster, int first, int last) {
    Producer p{producer_options(cluster)};
    for (int i = first; i <= last; ++i) p.produce(std::string_view{"m" + std::to_string(i)}, {.topic = "pending"});
    ASSERT_EQ(p.flush(kDeadline), 0) << "messages not delivered to the mock cluster";
}

// Waits until `n` messages that poll() has not returned yet are inside the consumer (fetched by librdkafka into
// its consumer queue, or kept by wait_for_assignment()).
bool wait_until_fetched(Consumer& c, std::size_t n) {
    gracedb::detail::KafkaQueue queue{rd_kafka_queue_get_consumer(Peer::handle(c))};
    const auto deadline = Clock::now() + kDeadline;
    while (Peer::buffered(c) + rd_kafka_queue_length(queue.get()) < n) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// What librdkafka does when the broker refuses the token: its error_cb, with the handle and its opaque.
void inject_authentication_error(Consumer& c) {
    rd_kafka_t* rk = Peer::handle(c);
    gracedb::kafka::detail_client::ClientCore::on_error(rk, RD_KAFKA_RESP_ERR__AUTHENTICATION, "injected by the test",
                                                        rd_kafka_opaque(rk));
}

std::string describe(const Message& m) { return "offset " + std::to_string(m.offset) + " " + m.value; }
std::string expected_message(int i) { return "offset " + std::to_string(i) + " m" + std::to_string(i); }

struct Polled {
    std::vector<std::string> events;  // "offset <n> m<n>" per message, kAuthError where the error was raised
    std::vector<std::int64_t> offsets;
    int auth_errors = 0;
};

// Polls until the first empty poll after the authentication error (or the deadline), recording messages and
// errors in order. Checks the error as the application sees it.
void poll_through_the_error(Consumer& c, Polled& out) {
    const auto deadline = Clock::now() + kDeadline;
    while (Clock::now() < deadline) {
        try {
            auto m = c.poll(2s);
            if (!m) {
                if (out.auth_errors > 0) return;
                continue;
            }
            out.events.push_back(describe(*m));
            out.offsets.push_back(m->offset);
        } catch (const KafkaAuthenticationError& e) {
            out.events.push_back(kAuthError);
            ++out.auth_errors;
            EXPECT_EQ(e.code(), gracedb::Errc::authentication_failed) << e.what();
            EXPECT_EQ(e.rdkafka_error(), "_AUTHENTICATION") << e.what();
            EXPECT_FALSE(e.fatal()) << e.what();
            EXPECT_NE(std::string{e.what()}.find("injected by the test"), std::string::npos) << e.what();
        } catch (const gracedb::Error& e) {
            out.events.push_back(std::string{"unexpected error: "} + e.what());
            return;
        }
    }
    ADD_FAILURE() << "no empty poll after the authentication error within " << kDeadline.count() << " s";
}

// The group's committed offset for the topic's partition (where its next member starts; negative: none), read
// without joining the group.
std::int64_t committed(const MockCluster& cluster, const std::string& group) {
    gracedb::testing::RawClient c{RD_KAFKA_CONSUMER, {{"bootstrap.servers", cluster.bootstrap_servers()},
                                                      {"group.id", group},
                                                      {"enable.auto.commit", "false"}}};
    gracedb::detail::PartitionList list{rd_kafka_topic_partition_list_new(1)};
    rd_kafka_topic_partition_list_add(list.get(), "mock.pending", 0);
    if (auto err = rd_kafka_committed(c.get(), list.get(), 10000)) {
        ADD_FAILURE() << "cannot read the committed offset: " << rd_kafka_err2name(err);
        return -2;
    }
    return list->elems[0].offset;
}

std::vector<std::string> all_messages_then_the_error() {
    std::vector<std::string> v;
    for (int i = 0; i < kMessages; ++i) v.push_back(expected_message(i));
    v.push_back(kAuthError);
    return v;
}

// Each test: a fresh mock cluster with five messages in a one-partition topic, and a consumer of a fresh group
// that has them all fetched.
class ConsumerPending : public ::testing::Test {
protected:
    void SetUp() override {
        cluster.create_topic("mock.pending", 1);
        ASSERT_NO_FATAL_FAILURE(produce(cluster, 0, kMessages - 1));
        consumer.emplace(consumer_options(cluster));
        ASSERT_TRUE(consumer->wait_for_assignment(kDeadline));
        ASSERT_TRUE(wait_until_fetched(*consumer, kMessages)) << "the consumer did not fetch the messages";
    }

    // Takes `n` messages, then waits until the rest are fetched again (so that one is at hand).
    void hand_over(int n, Polled& polled) {
        for (int i = 0; i < n; ++i) {
            auto m = consumer->poll(kDeadline);
            ASSERT_TRUE(m) << "message " << i << " not returned";
            polled.events.push_back(describe(*m));
            polled.offsets.push_back(m->offset);
        }
        ASSERT_TRUE(wait_until_fetched(*consumer, static_cast<std::size_t>(kMessages - n)));
    }

    // Closes the consumer; the group's committed position.
    std::int64_t close_and_read_committed() {
        const std::string group = consumer->group_id();
        consumer->close(10s);
        return committed(cluster, group);
    }

    MockCluster cluster;
    std::optional<Consumer> consumer;
};

constexpr const char* kInOrder = "every fetched message is handed over before the pending error is raised";
constexpr const char* kCommittedAfterAll =
    "the committed position is one past the last message handed over: nothing skipped, nothing replayed";

}  // namespace

// The error is pending before the first poll, with all five messages fetched: each is handed over, in order,
// and the error is raised after them, on a poll with no message at hand. The group's committed position is
// then 5: a new member of the group skips nothing and gets nothing from before.
TEST_F(ConsumerPending, AFetchedMessageIsHandedOverBeforeAPendingAuthenticationError) {
    inject_authentication_error(*consumer);
    Polled polled;
    poll_through_the_error(*consumer, polled);
    EXPECT_EQ(polled.events, all_messages_then_the_error()) << kInOrder;
    EXPECT_EQ(polled.auth_errors, 1) << "the pending error is raised once";
    EXPECT_EQ(close_and_read_committed(), kMessages) << kCommittedAfterAll;
}

// The error arrives mid-stream, after two of the five messages were handed over: the same result.
TEST_F(ConsumerPending, APendingAuthenticationErrorMidStreamDropsNothing) {
    Polled polled;
    ASSERT_NO_FATAL_FAILURE(hand_over(2, polled));
    inject_authentication_error(*consumer);
    poll_through_the_error(*consumer, polled);
    EXPECT_EQ(polled.events, all_messages_then_the_error()) << kInOrder;
    EXPECT_EQ(polled.auth_errors, 1) << "the pending error is raised once";
    EXPECT_EQ(close_and_read_committed(), kMessages) << kCommittedAfterAll;
}

// Only what was handed over is committed: the consumer takes one message after the error became pending and
// closes with two more fetched but not handed over. The committed position is right after the last message
// handed over, so the next member of the group reads exactly those two.
TEST_F(ConsumerPending, OnlyMessagesHandedOverAreCommittedAfterAPendingError) {
    Polled polled;
    ASSERT_NO_FATAL_FAILURE(hand_over(2, polled));
    inject_authentication_error(*consumer);
    std::vector<std::string> events;
    try {
        if (auto m = consumer->poll(kDeadline)) {
            events.push_back(describe(*m));
            polled.offsets.push_back(m->offset);
        }
    } catch (const KafkaAuthenticationError&) {
        events.push_back(kAuthError);
    }
    EXPECT_EQ(events, std::vector<std::string>{expected_message(2)})
        << "the message at hand is handed over; the pending error waits for a poll with none";
    ASSERT_EQ(polled.offsets.size(), 3u);
    EXPECT_EQ(close_and_read_committed(), polled.offsets.back() + 1)
        << "the group resumes right after the last message handed over: the two fetched but not handed over "
           "are read by its next member, and no message is neither handed over nor after the committed position";
}
