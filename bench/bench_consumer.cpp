// Consumer throughput, raw librdkafka vs gracedb::kafka::Consumer, reading the same topic of 1 KiB messages.
//   bench_consumer [--bootstrap HOST:PORT --ca CA.pem --instance NAME] [--messages N] [--rounds R]
// Without --bootstrap: the mock cluster (keep N*1 KiB under its ~5 MB per partition). Both sides subscribe
// with a fresh group and read from the beginning; the clock runs from the first message to the N-th.
#include <gracedb/kafka.hpp>

#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <iostream>

#include "bench_common.hpp"

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

void fill(const bench::Target& t, const std::string& topic, long n) {
    rd_kafka_t* rk = bench::raw_client(RD_KAFKA_PRODUCER, t, {{"linger.ms", "20"}});
    const std::string payload(1024, 'x');
    for (long i = 0; i < n; ++i) {
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                                 RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
    }
    rd_kafka_flush(rk, 60000);
    rd_kafka_destroy(rk);
}

double run_raw(const bench::Target& t, const std::string& topic, long n, int round) {
    rd_kafka_t* rk = bench::raw_client(RD_KAFKA_CONSUMER, t,
                                       {{"group.id", "raw-" + std::to_string(::getpid()) + "-" + std::to_string(round)},
                                        {"auto.offset.reset", "earliest"}});
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    long got = 0;
    std::size_t bytes = 0;
    Clock::time_point first{};
    const auto deadline = Clock::now() + 120s;
    while (got < n && Clock::now() < deadline) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (!m->err) {
            if (got++ == 0) first = Clock::now();
            bytes += m->len;
        }
        rd_kafka_message_destroy(m);
    }
    const double secs = std::chrono::duration<double>(Clock::now() - first).count();
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (got < n) throw std::runtime_error("raw consumer read only " + std::to_string(got));
    return static_cast<double>(n - 1) / secs + 0 * static_cast<double>(bytes);
}

double run_ours(const bench::Target& t, const std::string& pipeline, long n, int round) {
    gracedb::kafka::ConsumerOptions o{.bootstrap_servers = t.bootstrap,
                                      .topics = {pipeline},
                                      .instance_name = t.instance,
                                      .group_id = "ours-" + std::to_string(::getpid()) + "-" + std::to_string(round),
                                      .ca_cert_path = t.ca,
                                      .auto_offset_reset = "earliest"};
    if (!t.sasl()) o.kafka_config = bench::security(t);
    gracedb::kafka::Consumer c{o};
    long got = 0;
    std::size_t bytes = 0;
    Clock::time_point first{};
    const auto deadline = Clock::now() + 120s;
    while (got < n && Clock::now() < deadline) {
        if (auto m = c.poll(100ms)) {
            if (got++ == 0) first = Clock::now();
            bytes += m->value.size();
        }
    }
    const double secs = std::chrono::duration<double>(Clock::now() - first).count();
    if (got < n) throw std::runtime_error("our consumer read only " + std::to_string(got));
    return static_cast<double>(n - 1) / secs + 0 * static_cast<double>(bytes);
}

}  // namespace

int main(int argc, char** argv) try {
    auto target = bench::parse_target(argc, argv);
    const long n = bench::arg_long(argc, argv, "--messages", target.mock ? 4000 : 100000);
    const long rounds = bench::arg_long(argc, argv, "--rounds", 5);
    gracedb::set_log_level(gracedb::LogLevel::error);
    const std::string pipeline = "bench-consume" + std::to_string(::getpid());
    const std::string topic = target.instance + "." + pipeline;
    if (target.mock) target.mock->create_topic(topic, 1);
    fill(target, topic, n);
    std::cout << "bench_consumer: " << target.describe() << ", " << n << " messages of 1 KiB, " << rounds
              << " alternated rounds\n";
    std::vector<double> raw, ours;
    for (int r = 0; r < rounds; ++r) {
        if (r % 2 == 0) {
            raw.push_back(run_raw(target, topic, n, r));
            ours.push_back(run_ours(target, pipeline, n, r));
        } else {
            ours.push_back(run_ours(target, pipeline, n, r));
            raw.push_back(run_raw(target, topic, n, r));
        }
        std::printf("  round %d: raw %.0f/s, ours %.0f/s\n", r + 1, raw.back(), ours.back());
    }
    const double a = bench::median(raw), b = bench::median(ours);
    std::printf("raw librdkafka consumer: %10.0f msg/s\nours (Consumer::poll)  : %10.0f msg/s = %.2f of raw (target >= 0.90)\n",
                a, b, b / a);
    return 0;
} catch (const std::exception& e) {
    std::cerr << "bench_consumer: " << e.what() << "\n";
    return 1;
}
