// create_event over Kafka vs over HTTP, against the in-process GraceDB stand-in and a broker, for a small and
// a large event file: p50/p99 of the whole call and of the step that yields the graceid.
//   bench_create_event [--bootstrap HOST:PORT --ca CA.pem] [--calls N] [--data ../shared/data]
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>

#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

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

// The baseline of the publish step: raw librdkafka, the library's guaranteed-delivery settings, `payload`
// produced and flushed (acknowledged) one at a time. p50 in ms.
double raw_produce_ack_p50(const bench::Target& t, const std::string& topic, const std::string& payload, long n) {
    rd_kafka_t* rk = bench::raw_client(RD_KAFKA_PRODUCER, t,
                                       {{"acks", "all"}, {"enable.idempotence", "true"}, {"compression.type", "zstd"},
                                        {"socket.nagle.disable", "true"}});
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    std::vector<double> v;
    for (long i = 0; i < n + 5; ++i) {
        const auto start = std::chrono::steady_clock::now();
        rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, const_cast<char*>(payload.data()),
                         payload.size(), nullptr, 0, nullptr);
        rd_kafka_flush(rk, 10000);
        if (i >= 5) v.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return bench::percentile(v, 0.5);
}

// The message create_event publishes for `name`/`bytes`, built once outside the timing: the same bytes on the
// wire (the base64 of the real file compresses as the real one does; a run of one letter would not).
std::string event_message(const std::string& name, const std::string& bytes) {
    std::string b64(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    b64.resize(static_cast<std::size_t>(n));
    return nlohmann::json{{"type", "event"},          {"_producer_timestamp", 1764172800.123},
                          {"graceid", "G100001"},     {"pipeline", "gstlal"},
                          {"submitter", "anonymous"}, {"eventFile", {name, b64}},
                          {"group", "CBC"},           {"search", "AllSky"},
                          {"offline", false},         {"labels", nlohmann::json::array()},
                          {"gracedb_upload", true},   {"skip_supervisor", false}}
        .dump();
}
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
        double kafka_p50 = 0, reserve_p50 = 0;
        std::size_t message_size = 0;
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
            if (kafka) {
                kafka_p50 = bench::percentile(total, 0.5);
                reserve_p50 = bench::percentile(first, 0.5);
            }
        }
        const std::string payload = event_message(name, bytes);
        message_size = payload.size();
        const double raw = raw_produce_ack_p50(target, "localhost.gstlal", payload, calls);
        std::printf("%-14s baseline: reservation p50 %.2f ms + raw produce-and-ack p50 %.2f ms (%zu B) = %.2f ms; "
                    "create_event over Kafka p50 = %.2fx the baseline (target <= 1.5x)\n",
                    name.c_str(), reserve_p50, raw, message_size, reserve_p50 + raw, kafka_p50 / (reserve_p50 + raw));
    }
    return 0;
} catch (const std::exception& e) {
    std::cerr << "bench_create_event: " << e.what() << "\n";
    return 1;
}
