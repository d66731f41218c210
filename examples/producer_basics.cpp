// Specification, "Producer": creating a producer, producing messages, the context manager (RAII here),
// and testing connectivity with ping().
//   producer_basics [bootstrap_servers] [service_url]
#include <gracedb/kafka.hpp>

#include <iostream>

int main(int argc, char** argv) try {
    using namespace gracedb::kafka;
    const std::string bootstrap = argc > 1 ? argv[1] : "kafka-dev.ligo.org:9092";
    const std::string service_url = argc > 2 ? argv[2] : "https://gracedb-dev.ligo.org/api/";

    // Creating a producer: the topic "test" is namespaced to "gracedb-dev.test".
    Producer producer{{
        .bootstrap_servers = bootstrap,
        .topic = "test",
        .service_url = service_url,
        .ca_cert_path = "/etc/ssl/certs/ca-certificates.crt",  // Python: certifi.where()
    }};

    // Producing messages: a JSON object is serialised for you.
    producer.produce(nlohmann::json{{"graceid", "G12345"}, {"group", "CBC"}});
    producer.flush();  // wait for delivery confirmation
    producer.close();  // flush remaining messages and release resources

    // The context manager: the producer is closed (and flushed) when it goes out of scope.
    {
        Producer scoped{{.bootstrap_servers = bootstrap,
                         .topic = "test",
                         .service_url = service_url,
                         .ca_cert_path = "/etc/ssl/certs/ca-certificates.crt"}};
        scoped.produce(nlohmann::json{{"graceid", "G12345"}, {"group", "CBC"}});

        // Testing connectivity.
        PingResult result = scoped.ping("test");
        std::cout << "{'topic': '" << result.topic << "', 'partition': " << result.partition
                  << ", 'offset': " << result.offset << ", 'message': " << result.message.dump() << "}\n";
    }
    return 0;
} catch (const std::exception& e) {
    std::cerr << "producer_basics: " << e.what() << "\n";
    return 1;
}
