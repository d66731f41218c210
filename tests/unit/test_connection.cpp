// kafka::Connection: the one conversion of the connection fields, both ways, for producers and consumers.
#include <gracedb/kafka.hpp>

#include <gtest/gtest.h>

#include <cstddef>

using gracedb::kafka::Connection;
using gracedb::kafka::ConsumerOptions;
using gracedb::kafka::ProducerOptions;
using namespace std::chrono_literals;

namespace {

// The number of fields of an aggregate: how many values a brace initializer takes.
struct AnyValue {
    template <class T>
    operator T() const;  // never called: only unevaluated initializers use it
};
template <class T, class... Values>
constexpr std::size_t field_count() {
    if constexpr (requires { T{Values{}..., AnyValue{}}; })
        return field_count<T, Values..., AnyValue>();
    else
        return sizeof...(Values);
}

// Every field different from its default.
Connection unusual() {
    return {.bootstrap_servers = "b1:9092,b2:9093",
            .instance_name = "gracedb-x",
            .service_url = "https://gracedb-x.example.org/api/",
            .use_ssl = false,
            .ca_cert_path = "/etc/ca.pem",
            .skip_hostname_verification = true,
            .token_scope = "kafka.other",
            .token_audience = "aud.example.org",
            .reload_cred = false,
            .reload_buffer = 17s};
}

template <class Options>
void carries_every_field() {
    // A field added to Connection must be added to from()/apply_to() and to unusual() above.
    static_assert(field_count<Connection>() == 10,
                  "Connection changed: update from(), apply_to() and this test");
    const Connection c = unusual();
    ASSERT_NE(c, Connection{});
    Options o;
    o.kafka_config = {{"linger.ms", "5"}};
    c.apply_to(o);
    EXPECT_EQ(Connection::from(o), c);  // there and back, field by field
    EXPECT_EQ(o.bootstrap_servers, "b1:9092,b2:9093");
    EXPECT_EQ(o.instance_name, "gracedb-x");
    EXPECT_EQ(o.service_url, "https://gracedb-x.example.org/api/");
    EXPECT_FALSE(o.use_ssl);
    EXPECT_EQ(o.ca_cert_path, "/etc/ca.pem");
    EXPECT_TRUE(o.skip_hostname_verification);
    EXPECT_EQ(o.token_scope, "kafka.other");
    EXPECT_EQ(o.token_audience, "aud.example.org");
    EXPECT_FALSE(o.reload_cred);
    EXPECT_EQ(o.reload_buffer, 17s);
    EXPECT_EQ(o.kafka_config.at("linger.ms"), "5");  // not a connection field: left alone

    // Back to the defaults, also through apply_to: nothing of the earlier connection is left over.
    Connection defaults = Connection::from(Options{});
    defaults.apply_to(o);
    EXPECT_EQ(Connection::from(o), Connection::from(Options{}));
}

}  // namespace

TEST(Connection, ProducerOptionsCarryEveryFieldBothWays) { carries_every_field<ProducerOptions>(); }

TEST(Connection, ConsumerOptionsCarryEveryFieldBothWays) { carries_every_field<ConsumerOptions>(); }

TEST(Connection, DefaultsAreTheOptionsDefaults) {
    Connection p = Connection::from(ProducerOptions{});
    Connection c = Connection::from(ConsumerOptions{});
    EXPECT_EQ(p.token_scope, "kafka.produce");
    EXPECT_EQ(c.token_scope, "kafka.consume");
    p.token_scope.reset();
    c.token_scope.reset();
    EXPECT_EQ(p, Connection{});
    EXPECT_EQ(c, Connection{});
}

TEST(Connection, WithoutAScopeEachClientKeepsItsOwn) {
    Connection c = unusual();
    c.token_scope.reset();
    ProducerOptions po;
    ConsumerOptions co;
    c.apply_to(po);
    c.apply_to(co);
    EXPECT_EQ(po.token_scope, "kafka.produce");
    EXPECT_EQ(co.token_scope, "kafka.consume");
    EXPECT_EQ(po.bootstrap_servers, c.bootstrap_servers);
    // A consumer's connection reused for a producer (the supervisor's dead letters): same brokers, TLS, token
    // audience, but the producer's own scope.
    auto from_consumer = Connection::from(co);
    from_consumer.token_scope.reset();
    ProducerOptions dead_letters;
    from_consumer.apply_to(dead_letters);
    EXPECT_EQ(dead_letters.ca_cert_path, "/etc/ca.pem");
    EXPECT_EQ(dead_letters.token_scope, "kafka.produce");
}
