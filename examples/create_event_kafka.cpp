// Specification, "Uploading events with Kafka": the basic example (reserve + produce), the convenience
// factory create_kafka_producer(), a longer flush_timeout, the HTTP fallback, create_event with filecontents
// (class reference), and skipping server-side processing.
//   create_event_kafka [bootstrap_servers] [service_url] [event file]
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

using namespace std::chrono_literals;

int main(int argc, char** argv) try {
    using namespace gracedb;
    const std::string bootstrap = argc > 1 ? argv[1] : "kafka-dev.ligo.org:9092";
    const std::string service_url = argc > 2 ? argv[2] : "https://gracedb-test.ligo.org/api/";
    const std::string filename = argc > 3 ? argv[3] : "coinc.xml";

    // Basic example.
    GraceDb client{service_url, {.api_version = "v2"}};
    kafka::Producer producer{{.bootstrap_servers = bootstrap,
                              .service_url = service_url,
                              .ca_cert_path = "/etc/ssl/certs/ca-certificates.crt"}};
    Response response = client.create_event("CBC", "gstlal", filename, {.search = "AllSky", .kafka = &producer});
    // Message is published to gracedb-test.gstlal
    std::cout << response.json()["graceid"].get<std::string>() << "\n";  // e.g. "G123456"
    producer.close();

    // The flush timeout bounds how long create_event waits for the delivery report.
    kafka::Producer patient{{.bootstrap_servers = bootstrap,
                             .service_url = service_url,
                             .ca_cert_path = "/etc/ssl/certs/ca-certificates.crt",
                             .flush_timeout = 30s}};

    // The convenience factory: the client's service URL namespaces the topics.
    kafka::Producer factory_made = client.create_kafka_producer(
        {.bootstrap_servers = bootstrap, .topic = "test", .ca_cert_path = "/etc/ssl/certs/ca-certificates.crt"});

    // HTTP fallback: a failed reservation becomes a plain HTTP create; a failed produce after a reservation is
    // completed with upload_reserved_event over HTTP.
    Response safe = client.create_event("CBC", "gstlal", filename, {.kafka = &patient, .http_fallback = true});
    std::cout << safe.json()["graceid"].get<std::string>() << "\n";

    // With the file's bytes in memory (class reference: filecontents=data).
    std::ifstream in{filename, std::ios::binary};
    std::stringstream data;
    data << in.rdbuf();
    client.create_event("CBC", "gstlal", filename, {.filecontents = data.str(), .kafka = &patient});

    // Skipping server-side processing.
    client.create_event("CBC", "gstlal", filename, {.kafka = &patient, .gracedb_upload = false});
    client.create_event("CBC", "gstlal", filename, {.kafka = &patient, .skip_supervisor = true});

    // Where the time went.
    for (const auto& [step, duration] : response.timings) std::cout << step << ": " << duration.count() << " us\n";
    return 0;
} catch (const std::exception& e) {
    std::cerr << "create_event_kafka: " << e.what() << "\n";
    return 1;
}
