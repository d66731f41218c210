// "All brokers down" names its cause: the connection failure librdkafka reported just before it (a refused
// connection here; on a loaded machine also a TLS handshake that failed, which librdkafka then reports so).
#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/producer.hpp>

#include <gtest/gtest.h>

#include <string>

using namespace gracedb::kafka;
using namespace std::chrono_literals;

// Seen as integration.Producer.FailureCasesAreTypedErrorsWellBeforeTheTimeout failing under load: a wrong CA
// ended as connection_failed ("1/1 brokers are down") whose message did not say the certificate was refused.
TEST(ProducerFailFast, AllBrokersDownNamesTheLastConnectionFailure) {
    Producer p{{.bootstrap_servers = "127.0.0.1:9",  // the discard port: nothing listens, connections refused
                .topic = "t",
                .instance_name = "down",
                .flush_timeout = 500ms,
                .kafka_config = {{"security.protocol", "plaintext"}}}};
    try {
        p.ping(std::nullopt, 30s);
        FAIL() << "a ping with no broker succeeded";
    } catch (const KafkaConnectionError& e) {
        EXPECT_EQ(e.code(), gracedb::Errc::connection_failed) << e.what();
        const std::string what = e.what();
        EXPECT_NE(what.find("brokers are down"), std::string::npos) << what;
        EXPECT_NE(what.find("the last connection failure: "), std::string::npos) << what;
        EXPECT_NE(what.find("Connection refused"), std::string::npos) << what;
    }
}
