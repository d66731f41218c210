// Specification, class reference of the producer: a default topic for direct produce() calls, produce()
// with topic and key, a longer flush timeout, and disabling proactive token reloading.
//   producer_options [bootstrap_servers]
#include <gracedb/kafka.hpp>

#include <iostream>

using namespace std::chrono_literals;

int main(int argc, char** argv) try {
    using namespace gracedb::kafka;
    const std::string bootstrap = argc > 1 ? argv[1] : "gracedb-dev.ligo.org:9092";

    // Using a default topic for direct produce() calls: published to gracedb-dev.test.
    Producer producer{{.bootstrap_servers = bootstrap,
                       .topic = "test",
                       .service_url = "https://gracedb-dev.ligo.org/api/",
                       .ca_cert_path = "/tmp/cacert.pem",
                       .flush_timeout = 30s}};  // Python: flush_timeout=30
    producer.produce(nlohmann::json{{"graceid", "G12345"}});

    // produce(value, topic, key): to gracedb-dev.gstlal, keyed by graceid.
    producer.produce(nlohmann::json{{"graceid", "G12345"}}, {.topic = "gstlal", .key = "G12345"});
    const int still_queued = producer.flush(5s);
    std::cout << still_queued << " message(s) still queued\n";

    // To disable proactive reloading (the token is read once, at construction).
    Producer no_reload{{.bootstrap_servers = bootstrap,
                        .service_url = "https://gracedb-dev.ligo.org/api/",
                        .reload_cred = false}};
    return 0;
} catch (const std::exception& e) {
    std::cerr << "producer_options: " << e.what() << "\n";
    return 1;
}
