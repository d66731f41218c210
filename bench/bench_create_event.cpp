// create_event over Kafka vs over HTTP, against the in-process GraceDB stand-in and a broker, for a small and
// a large event file: p50/p99 of the whole call and of the step that yields the graceid.
//   bench_create_event [--bootstrap HOST:PORT --ca CA.pem] [--calls N] [--data ../shared/data]
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "bench_common.hpp"

using namespace std::chrono_literals;

namespace {
std::string read(const std::string& path) {
    std::ifstream in{path, std::ios::binary};
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}
double ms(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1000.0; }
}  // namespace

int main(int argc, char** argv) try {
    auto target = bench::parse_target(argc, argv);
    const long calls = bench::arg_long(argc, argv, "--calls", 200);
    std::string data = "../shared/data";
    for (int i = 1; i + 1 < argc; ++i)
        if (std::string{argv[i]} == "--data") data = argv[i + 1];
    gracedb::set_log_level(gracedb::LogLevel::error);

    std::vector<std::pair<std::string, std::string>> files;
    if (std::ifstream{data + "/events/cbc-mbta.xml"}) {
        files = {{"cbc-mbta.xml", read(data + "/events/cbc-mbta.xml")}, {"psd.xml.gz", read(data + "/events/psd.xml.gz")}};
    } else {
        std::cerr << "*** shared data not found at " << data << ": using generated files of the same sizes ***\n";
        files = {{"small.xml", std::string(6609, 's')}, {"large.bin", std::string(294426, 'l')}};
    }
    gracedb::StandIn standin{{.url_host = "localhost"}};
    gracedb::GraceDb client{standin.service_url(), {.force_noauth = true}};
    gracedb::kafka::ProducerOptions po{.bootstrap_servers = target.bootstrap, .ca_cert_path = target.ca};
    if (!target.sasl()) po.kafka_config = bench::security(target);
    if (target.mock)
        for (const char* t : {"localhost.gstlal"}) target.mock->create_topic(t, 4);
    auto producer = client.create_kafka_producer(po);
    std::cout << "bench_create_event: " << target.describe() << ", GraceDB stand-in over HTTP on loopback, " << calls
              << " calls each\n";
    for (const auto& [name, bytes] : files) {
        for (const bool kafka : {true, false}) {
            std::vector<double> total, first;
            for (long i = 0; i < calls + 5; ++i) {
                gracedb::CreateEventOptions o{.search = "AllSky", .filecontents = bytes};
                if (kafka) o.kafka = &producer;
                auto r = client.create_event("CBC", "gstlal", name, o);
                if (i < 5) continue;  // warm-up
                total.push_back(ms(*r.timing("total")));
                first.push_back(ms(*r.timing(kafka ? "reserve" : "http")));
            }
            std::printf("%-14s %8zu B  %-5s: whole call p50 %7.2f ms p99 %7.2f ms; graceid after p50 %6.2f ms p99 %6.2f ms\n",
                        name.c_str(), bytes.size(), kafka ? "kafka" : "http", bench::percentile(total, 0.5),
                        bench::percentile(total, 0.99), bench::percentile(first, 0.5), bench::percentile(first, 0.99));
        }
    }
    return 0;
} catch (const std::exception& e) {
    std::cerr << "bench_create_event: " << e.what() << "\n";
    return 1;
}
