// Uses the installed library: a topic name and the exception tree.
#include <gracedb/kafka.hpp>

#include <iostream>

int main() {
    const auto topic = gracedb::kafka::make_topic_name(
        gracedb::kafka::derive_instance_name("https://gracedb-test.ligo.org/api/"), "gstlal");
    try {
        throw gracedb::kafka::KafkaTokenError("probe");
    } catch (const gracedb::kafka::KafkaAuthenticationError&) {
        std::cout << topic << " " << gracedb::version << "\n";
        return topic == "gracedb-test.gstlal" ? 0 : 1;
    }
}
