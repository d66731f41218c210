// Specification, "Consumer": live streaming (Ctrl-C stops the stream cleanly), persisting the read position
// with a stable group id, and replaying history from the beginning.
//   consumer_streaming [live|resume|replay] [bootstrap_servers]
#include <gracedb/kafka.hpp>

#include <iostream>

namespace {
void process(const gracedb::kafka::Message& msg) { std::cout << msg.topic << "@" << msg.offset << "\n"; }
}  // namespace

int main(int argc, char** argv) try {
    using namespace gracedb::kafka;
    const std::string mode = argc > 1 ? argv[1] : "live";
    const std::string bootstrap = argc > 2 ? argv[2] : "kafka-dev.ligo.org:9092";

    if (mode == "live") {
        // Live streaming: ephemeral group id, latest offsets, auto-commit.
        Consumer consumer{{.bootstrap_servers = bootstrap,
                           .topics = {"test"},
                           .service_url = "https://gracedb-dev.ligo.org/api/",
                           .ca_cert_path = "/etc/ssl/certs/ca-certificates.crt"}};
        for (const Message& msg : consumer.stream()) std::cout << msg.value << "\n";
    } else if (mode == "resume") {
        // Persisting read position: a stable group id resumes from the last committed offset.
        Consumer consumer{{.bootstrap_servers = bootstrap,
                           .topics = {"test"},
                           .service_url = "https://gracedb-dev.ligo.org/api/",
                           .group_id = "my-pipeline-consumer",
                           .ca_cert_path = "/etc/ssl/certs/ca-certificates.crt"}};
        for (const Message& msg : consumer.stream()) process(msg);
    } else {
        // Replaying history: a fresh group id and auto_offset_reset = "earliest".
        Consumer consumer{{.bootstrap_servers = bootstrap,
                           .topics = {"test"},
                           .service_url = "https://gracedb-dev.ligo.org/api/",
                           .group_id = "my-replay-group",
                           .ca_cert_path = "/etc/ssl/certs/ca-certificates.crt",
                           .auto_offset_reset = "earliest"}};
        for (const Message& msg : consumer.stream()) std::cout << msg.json().dump() << "\n";
    }
    return 0;
} catch (const std::exception& e) {
    std::cerr << "consumer_streaming: " << e.what() << "\n";
    return 1;
}
