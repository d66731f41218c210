// Producer throughput and latency, raw librdkafka vs gracedb::kafka::Producer, in one run against one broker.
//   bench_producer [--bootstrap HOST:PORT --ca CA.pem --instance NAME] [--messages N] [--rounds R]
//                  [--latency-samples M] [--python /usr/bin/python3]
//   bench_producer --callgrind raw|bytes|bytes-default|json [--messages N]
//       one variant, for `valgrind --tool=callgrind --collect-atstart=no`: instructions are collected only
//       on the calling thread while it queues the N messages (warm client, topic known), so that
//       Ir / N is the per-message cost of the produce call itself (raw: rd_kafka_produce + rd_kafka_poll(0)).
// Without --bootstrap it starts librdkafka's mock cluster in process. With it, it uses SASL_SSL and a
// SciToken found by WLCG discovery. Rounds alternate the variants; the medians are reported.
#include <gracedb/kafka.hpp>

#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <iostream>
#include <random>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BENCH_COLLECT() CALLGRIND_TOGGLE_COLLECT
#else
#define BENCH_COLLECT() (void)0
#endif

#include "bench_common.hpp"

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// What the library sets for guaranteed delivery, so that raw and ours send alike.
const std::map<std::string, std::string> kGuaranteed = {
    {"acks", "all"}, {"enable.idempotence", "true"}, {"compression.type", "zstd"}, {"socket.nagle.disable", "true"}};

std::string payload_1k() {
    std::mt19937 rng{42};
    std::string s(1024, ' ');
    const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 ";
    for (auto& c : s) c = alphabet[rng() % 37];
    return s;
}

// A 1 KiB JSON object shaped like an event envelope.
nlohmann::json object_1k() {
    nlohmann::json o = {{"type", "event"},        {"graceid", "G123456"},      {"pipeline", "gstlal"},
                        {"group", "CBC"},          {"search", "AllSky"},        {"offline", false},
                        {"gracedb_upload", true},  {"skip_supervisor", false},  {"submitter", "albert.einstein"},
                        {"_producer_timestamp", 1764172800.123}, {"labels", {"EM_READY", "PE_READY"}}};
    const auto filler = payload_1k();
    std::size_t i = 0;
    while (o.dump().size() < 1024) o["extra_" + std::to_string(i++)] = filler.substr(0, 60);
    return o;
}

double run_raw(const bench::Target& t, const std::string& topic, const std::string& payload, long n) {
    rd_kafka_t* rk = bench::raw_client(RD_KAFKA_PRODUCER, t, kGuaranteed);
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    rd_kafka_poll(rk, 100);
    const auto start = Clock::now();
    for (long i = 0; i < n; ++i) {
        while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, const_cast<char*>(payload.data()),
                                payload.size(), nullptr, 0, nullptr) == -1)
            rd_kafka_poll(rk, 1);
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return static_cast<double>(n) / secs;
}

gracedb::kafka::ProducerOptions ours_options(const bench::Target& t) {
    gracedb::kafka::ProducerOptions o{.bootstrap_servers = t.bootstrap, .instance_name = t.instance,
                                      .ca_cert_path = t.ca, .flush_timeout = 60s};
    if (!t.sasl()) o.kafka_config = bench::security(t);
    return o;
}

double run_ours_bytes(const bench::Target& t, const std::string& pipeline, const std::string& payload, long n) {
    gracedb::kafka::Producer p{ours_options(t)};
    const std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(payload.data()), payload.size()};
    p.poll(100ms);
    const auto start = Clock::now();
    for (long i = 0; i < n; ++i) p.produce(bytes, {.topic = pipeline});
    p.flush(60s);
    return static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - start).count();
}

double run_ours_json(const bench::Target& t, const std::string& pipeline, const nlohmann::json& obj, long n) {
    gracedb::kafka::Producer p{ours_options(t)};
    p.poll(100ms);
    const auto start = Clock::now();
    for (long i = 0; i < n; ++i) p.produce(obj, {.topic = pipeline});
    p.flush(60s);
    return static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<double> latency_raw(const bench::Target& t, const std::string& topic, const std::string& payload, long m) {
    rd_kafka_t* rk = bench::raw_client(RD_KAFKA_PRODUCER, t, kGuaranteed);
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    std::vector<double> us;
    for (long i = 0; i < m + 5; ++i) {
        const auto start = Clock::now();
        rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, const_cast<char*>(payload.data()),
                         payload.size(), nullptr, 0, nullptr);
        rd_kafka_flush(rk, 10000);
        if (i >= 5) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return us;
}

std::vector<double> latency_ours(const bench::Target& t, const std::string& pipeline, const std::string& payload,
                                 long m) {
    gracedb::kafka::Producer p{ours_options(t)};
    std::vector<double> us;
    for (long i = 0; i < m + 5; ++i) {
        const auto start = Clock::now();
        p.produce(std::string_view{payload}, {.topic = pipeline});
        p.flush(10s);
        if (i >= 5) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    return us;
}

// The Python anchor: python3-confluent-kafka with json.dumps, the path the Python original takes.
double run_python(const bench::Target& t, const std::string& python, const std::string& topic, long n) {
    const std::string script = std::string{GRACEDB_BENCH_DIR} + "/python_anchor.py";
    std::string cmd = python + " " + script + " --bootstrap " + t.bootstrap + " --topic " + topic + " --messages " +
                      std::to_string(n);
    if (t.sasl()) cmd += " --ca " + *t.ca;
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (!pipe) return 0;
    char buf[256] = {};
    std::string out;
    while (std::fgets(buf, sizeof buf, pipe)) out += buf;
    if (::pclose(pipe) != 0) {
        std::cerr << "python anchor failed: " << out << "\n";
        return 0;
    }
    return std::stod(out);
}

// One variant under callgrind: warm up (metadata, connections, buffers), then collect only the N calls.
int run_callgrind(const bench::Target& t, const std::string& variant, const std::string& pipeline,
                  const std::string& topic, const std::string& payload, const nlohmann::json& obj, long n) {
    constexpr long warm = 2000;
    if (variant == "raw") {
        rd_kafka_t* rk = bench::raw_client(RD_KAFKA_PRODUCER, t, kGuaranteed);
        rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
        auto one = [&] {
            char* value = const_cast<char*>(payload.data());
            while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, value, payload.size(),
                                    nullptr, 0, nullptr) == -1)
                rd_kafka_poll(rk, 1);
            rd_kafka_poll(rk, 0);
        };
        for (long i = 0; i < warm; ++i) one();
        rd_kafka_flush(rk, 60000);
        BENCH_COLLECT();
        for (long i = 0; i < n; ++i) one();
        BENCH_COLLECT();
        rd_kafka_flush(rk, 60000);
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        return 0;
    }
    auto options = ours_options(t);
    if (variant == "bytes-default") options.topic = pipeline;
    gracedb::kafka::Producer p{options};
    const std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(payload.data()),
                                           payload.size()};
    auto measure = [&](auto&& one) {
        for (long i = 0; i < warm; ++i) one();
        p.flush(60s);
        BENCH_COLLECT();
        for (long i = 0; i < n; ++i) one();
        BENCH_COLLECT();
        p.flush(60s);
    };
    if (variant == "bytes") measure([&] { p.produce(bytes, {.topic = pipeline}); });
    else if (variant == "bytes-default") measure([&] { p.produce(bytes); });
    else if (variant == "json") measure([&] { p.produce(obj, {.topic = pipeline}); });
    else throw std::invalid_argument("--callgrind raw|bytes|bytes-default|json");
    std::printf("callgrind %s: %ld messages collected\n", variant.c_str(), n);
    return 0;
}

}  // namespace

int main(int argc, char** argv) try {
    auto target = bench::parse_target(argc, argv);
    const long n = bench::arg_long(argc, argv, "--messages", 100000);
    const long rounds = bench::arg_long(argc, argv, "--rounds", 5);
    const long samples = bench::arg_long(argc, argv, "--latency-samples", 300);
    std::string python = "/usr/bin/python3";
    for (int i = 1; i + 1 < argc; ++i)
        if (std::string{argv[i]} == "--python") python = argv[i + 1];
    gracedb::set_log_level(gracedb::LogLevel::error);

    const auto payload = payload_1k();
    const auto obj = object_1k();
    const std::string pipeline = "bench" + std::to_string(::getpid());
    const std::string topic = target.instance + "." + pipeline;
    if (target.mock) target.mock->create_topic(topic, 1);
    for (int i = 1; i + 1 < argc; ++i)
        if (std::string{argv[i]} == "--callgrind")
            return run_callgrind(target, argv[i + 1], pipeline, topic, payload, obj, n);

    std::cout << "bench_producer: " << target.describe() << ", " << n << " messages of " << payload.size()
              << " B (JSON object: " << obj.dump().size() << " B), " << rounds
              << " alternated rounds, acks=all + idempotence + zstd\n";
    std::vector<double> raw, bytes, json, py, bytes_ratio, json_ratio;
    for (long r = 0; r < rounds; ++r) {
        // Rotate the order so that no variant always runs first (warm caches, broker state).
        for (int k = 0; k < 3; ++k) {
            switch ((r + k) % 3) {
                case 0: raw.push_back(run_raw(target, topic, payload, n)); break;
                case 1: bytes.push_back(run_ours_bytes(target, pipeline, payload, n)); break;
                case 2: json.push_back(run_ours_json(target, pipeline, obj, n)); break;
            }
        }
        bytes_ratio.push_back(bytes.back() / raw.back());
        json_ratio.push_back(json.back() / raw.back());
        std::printf("  round %ld: raw %.0f/s, ours(bytes) %.0f/s = %.2f of raw, ours(json) %.0f/s = %.2f of "
                    "raw\n",
                    r + 1, raw.back(), bytes.back(), bytes_ratio.back(), json.back(), json_ratio.back());
    }
    for (long r = 0; r < std::min<long>(rounds, 3); ++r) py.push_back(run_python(target, python, topic, n / 2));

    const double a = bench::median(raw), b = bench::median(bytes), c = bench::median(json), e = bench::median(py);
    std::printf("(a) raw librdkafka, 1 KiB bytes     : %10.0f msg/s\n", a);
    std::printf("(b) ours produce(bytes)             : %10.0f msg/s  = %.2f of raw (target >= 0.90; "
                "median of the rounds' ratios %.2f)\n", b, b / a, bench::median(bytes_ratio));
    std::printf("(c) ours produce(json), 1 KiB object: %10.0f msg/s  = %.2f of raw (target >= 0.40; "
                "median of the rounds' ratios %.2f), %.1fx python (target >= 2.5)\n",
                c, c / a, bench::median(json_ratio), e > 0 ? c / e : 0.0);
    std::printf("(e) python3-confluent-kafka json.dumps: %8.0f msg/s  = %.2f of raw\n", e, e / a);

    // Latency: alternated blocks, the median of the blocks' percentiles.
    std::vector<double> raw50, raw99, ours50, ours99;
    for (long r = 0; r < rounds; ++r) {
        const bool raw_first = r % 2 == 0;
        std::vector<double> lr, lo;
        if (raw_first) lr = latency_raw(target, topic, payload, samples);
        lo = latency_ours(target, pipeline, payload, samples);
        if (!raw_first) lr = latency_raw(target, topic, payload, samples);
        raw50.push_back(bench::percentile(lr, 0.5));
        raw99.push_back(bench::percentile(lr, 0.99));
        ours50.push_back(bench::percentile(lo, 0.5));
        ours99.push_back(bench::percentile(lo, 0.99));
    }
    if (bench::raw_failures.load() > 0) std::printf("WARNING: %ld raw deliveries failed\n", bench::raw_failures.load());
    std::printf("(d) produce+flush latency, %ld one at a time x %ld rounds: raw p50 %.0f us p99 %.0f us; ours p50 %.0f us"
                " p99 %.0f us  = %.2fx raw at p50 (target <= 1.2)\n",
                samples, rounds, bench::median(raw50), bench::median(raw99), bench::median(ours50),
                bench::median(ours99), bench::median(ours50) / bench::median(raw50));
    return 0;
} catch (const std::exception& e) {
    std::cerr << "bench_producer: " << e.what() << "\n";
    return 1;
}
