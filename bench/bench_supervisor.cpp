// The supervisor: one upload at a time (max_in_flight=1, the old behaviour) against concurrent uploads, in the
// same run, against the in-process GraceDB stand-in.
//   1. A burst of 64 events over 16 partitions while the supervisor runs, the stand-in answering each upload
//      after 200 ms (a real server's database work): time until all 64 are uploaded (target <= 1.0 s; one at a
//      time takes 64 x 200 ms = 12.8 s).
//   2. A backlog of 1,000 events, no server latency: events/s drained (target >= 2,000/s on the mock cluster),
//      from the first upload to the last (the group join is not counted).
//   3. Steady state: 200 events 20 ms apart, no server latency: the supervisor's produce-to-upload delay (p50,
//      p99; target p50 <= 3 ms and p99 <= 10 ms on the rig, p50 <= 5 ms on the mock cluster), beside raw
//      librdkafka's produce-to-consume on the same broker in the same run (the anchor: a fetch, no upload).
//   bench_supervisor [--bootstrap HOST:PORT --ca CA.pem --admin HOST:PORT] [--backlog N] [--burst N] [--latency MS]
//                    [--steady N] [--fetch-wait MS] [--only-steady]
//   (--admin: a plaintext listener for creating the topic, e.g. the rig's; bench/run-on-rig.sh passes it)
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/supervisor.hpp>
#include <gracedb/testing/standin.hpp>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <iostream>
#include <random>
#include <thread>

#include "bench_common.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Creates a topic with `partitions` partitions through the admin API (the rig's brokers create topics of one
// partition by themselves).
// On the rig: through its plaintext admin listener (--admin HOST:PORT; the SASL listener's ACLs let the token
// create only what the tests need).
std::string admin_bootstrap;

// Consumer settings of both the supervisor and the raw anchor (--fetch-wait MS sets fetch.wait.max.ms: the mock
// cluster answers a fetch only at its maximum wait, librdkafka's default 500 ms; the sandbox sets 5 ms).
std::map<std::string, std::string> consumer_tuning;

void create_topic(const bench::Target& t, const std::string& topic, int partitions) {
    if (t.mock) return t.mock->create_topic(topic, partitions);
    bench::Target admin;
    admin.bootstrap = admin_bootstrap.empty() ? t.bootstrap : admin_bootstrap;
    if (admin_bootstrap.empty()) admin.ca = t.ca;
    rd_kafka_t* rk = bench::raw_client(RD_KAFKA_PRODUCER, admin, {});
    char err[256];
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, -1, err, sizeof err);
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
    std::string error;
    if (!ev) error = "no answer";
    else if (rd_kafka_event_error(ev)) error = rd_kafka_event_error_string(ev);
    else if (const auto* res = rd_kafka_event_CreateTopics_result(ev)) {
        size_t n = 0;
        const rd_kafka_topic_result_t** r = rd_kafka_CreateTopics_result_topics(res, &n);
        if (n == 1 && rd_kafka_topic_result_error(r[0])) error = rd_kafka_topic_result_error_string(r[0]);
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    if (!error.empty()) throw std::runtime_error("cannot create " + topic + ": " + error);
}

struct Run {
    const bench::Target& target;
    // A fresh instance per run, so that the supervisor reads only this run's topic ("sup...": a prefix the
    // rig's ACLs allow).
    std::string instance = "sup" + std::to_string(std::random_device{}() % 100000000);
    std::string pipeline = "gstlal";
    gracedb::StandIn standin;
    gracedb::GraceDb client;
    gracedb::kafka::Producer producer;

    // The stand-in's host names the instance (libcurl resolves *.localhost): create_event refuses a producer of
    // another instance than the service's.
    static gracedb::StandInOptions standin_options(std::chrono::milliseconds latency, const std::string& pipeline,
                                                   const std::string& instance) {
        gracedb::StandInOptions o{.url_host = instance + ".localhost"};
        o.upload_latency = latency;
        o.pipelines.insert(pipeline);
        return o;
    }
    gracedb::kafka::ProducerOptions producer_options() const {
        gracedb::kafka::ProducerOptions po{.bootstrap_servers = target.bootstrap, .instance_name = instance,
                                           .ca_cert_path = target.ca};
        po.kafka_config = target.sasl() ? std::map<std::string, std::string>{} : bench::security(target);
        po.kafka_config["linger.ms"] = "0";
        return po;
    }

    Run(const bench::Target& t, std::chrono::milliseconds latency)
        : target{t}, standin{standin_options(latency, pipeline, instance)}, client{standin.service_url(), {.force_noauth = true}},
          producer{producer_options()} {
        create_topic(target, instance + "." + pipeline, 16);
    }

    void submit(int n) {
        for (int i = 0; i < n; ++i)
            client.create_event("CBC", pipeline, "coinc.xml",
                                {.filecontents = std::string(2000, 'c') + std::to_string(i), .kafka = &producer});
    }

    gracedb::SupervisorOptions options(std::size_t max_in_flight) const {
        gracedb::SupervisorOptions o{.consumer = {.bootstrap_servers = target.bootstrap,
                                                  .instance_name = instance,
                                                  .group_id = "bench-" + instance,
                                                  .ca_cert_path = target.ca},
                                     .service_url = standin.service_url(),
                                     .rest = {.force_noauth = true},
                                     .poll_timeout = 100ms,
                                     .handle_signals = false};
        if (!target.sasl()) o.consumer.kafka_config = bench::security(target);
        for (const auto& [k, v] : consumer_tuning) o.consumer.kafka_config[k] = v;
        o.max_in_flight = max_in_flight;
        return o;
    }

    bool wait_uploads(std::size_t n, std::chrono::seconds timeout) const {
        const auto deadline = Clock::now() + timeout;
        while (standin.uploads() < n && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
        return standin.uploads() >= n;
    }
};

// A supervisor running on a thread of its own until this goes out of scope (stopped and joined, also on a throw).
struct Running {
    gracedb::Supervisor& s;
    std::thread t{[this] { s.run(); }};
    ~Running() {
        s.stop();
        if (t.joinable()) t.join();
    }
};

// Seconds until a burst of `n` events, published while the supervisor runs, is all uploaded.
double burst(const bench::Target& t, std::size_t max_in_flight, int n, std::chrono::milliseconds latency) {
    Run r{t, latency};
    gracedb::Supervisor s{r.options(max_in_flight)};
    Running running{s};
    r.submit(1);  // the supervisor has joined its group once this one is uploaded
    if (!r.wait_uploads(1, 120s)) throw std::runtime_error("the warm-up event was not uploaded");
    const auto start = Clock::now();
    r.submit(n);
    const bool ok = r.wait_uploads(static_cast<std::size_t>(n) + 1, 300s);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!ok) throw std::runtime_error("the burst was not uploaded");
    return seconds;
}

// Events per second drained from a backlog of `n`, first upload to last.
double backlog(const bench::Target& t, std::size_t max_in_flight, int n, gracedb::LatencySummary* delays) {
    Run r{t, 0ms};
    r.submit(n);
    std::optional<Clock::time_point> first;
    auto o = r.options(max_in_flight);
    o.on_event = [&](const gracedb::SupervisorEvent& e) {
        if (!first && e.outcome == "uploaded") first = Clock::now();
    };
    gracedb::Supervisor s{o};
    const auto deadline = Clock::now() + 600s;
    while (r.standin.uploads() < static_cast<std::size_t>(n) && Clock::now() < deadline) s.step();
    const auto last = Clock::now();
    if (r.standin.uploads() < static_cast<std::size_t>(n) || !first) throw std::runtime_error("the backlog was not drained");
    if (delays) *delays = s.stats().delays;
    return (n - 1) / std::chrono::duration<double>(last - *first).count();
}

// Produce-to-upload delays (seconds) of `n` events published `gap` apart while the supervisor runs.
std::vector<double> steady(const bench::Target& t, int n, std::chrono::milliseconds gap) {
    Run r{t, 0ms};
    std::mutex mutex;
    std::vector<double> delays;
    auto o = r.options(gracedb::SupervisorOptions{}.max_in_flight);
    o.on_event = [&](const gracedb::SupervisorEvent& e) {
        if (e.outcome != "uploaded" || !e.delay) return;
        std::lock_guard lock{mutex};
        delays.push_back(e.delay->count());
    };
    gracedb::Supervisor s{o};
    Running running{s};
    r.submit(1);
    if (!r.wait_uploads(1, 120s)) throw std::runtime_error("the warm-up event was not uploaded");
    {
        std::lock_guard lock{mutex};
        delays.clear();
    }
    for (int i = 0; i < n; ++i) {
        const auto next = Clock::now() + gap;
        r.submit(1);
        std::this_thread::sleep_until(next);
    }
    if (!r.wait_uploads(static_cast<std::size_t>(n) + 1, 120s)) throw std::runtime_error("not every event was uploaded");
    std::lock_guard lock{mutex};
    return delays;
}

// Raw librdkafka: produce-to-consume delays (seconds) of `n` messages sent `gap` apart, each carrying its send
// time, read by a raw consumer of the same topic (its group joined first).
std::vector<double> raw_anchor(const bench::Target& t, int n, std::chrono::milliseconds gap) {
    const std::string topic = "sup" + std::to_string(std::random_device{}() % 100000000) + ".anchor";
    create_topic(t, topic, 16);
    std::map<std::string, std::string> settings = {
        {"group.id", "anchor-" + topic}, {"auto.offset.reset", "latest"}, {"enable.partition.eof", "false"},
        {"socket.nagle.disable", "true"}};  // as the library sets it (Nagle + delayed ACKs: ~40 ms stalls)
    settings.insert(consumer_tuning.begin(), consumer_tuning.end());
    rd_kafka_t* consumer = bench::raw_client(RD_KAFKA_CONSUMER, t, settings);
    rd_kafka_poll_set_consumer(consumer);
    auto* subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, topic.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(consumer, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    // Joined once an assignment exists.
    const auto join_deadline = Clock::now() + 60s;
    for (;;) {
        if (auto* m = rd_kafka_consumer_poll(consumer, 100)) rd_kafka_message_destroy(m);
        rd_kafka_topic_partition_list_t* a = nullptr;
        const bool joined = rd_kafka_assignment(consumer, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a && a->cnt > 0;
        if (a) rd_kafka_topic_partition_list_destroy(a);
        if (joined) break;
        if (Clock::now() > join_deadline) throw std::runtime_error("the anchor consumer never joined");
    }
    std::vector<double> delays;
    std::atomic<bool> done{false};
    std::thread reader{[&] {
        while (!done.load()) {
            rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
            if (!m) continue;
            if (!m->err && m->len == sizeof(std::int64_t)) {
                std::int64_t sent = 0;
                std::memcpy(&sent, m->payload, sizeof sent);
                const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
                delays.push_back(static_cast<double>(now - sent) / 1e9);
            }
            rd_kafka_message_destroy(m);
            if (delays.size() >= static_cast<std::size_t>(n)) done.store(true);
        }
    }};
    rd_kafka_t* producer = bench::raw_client(RD_KAFKA_PRODUCER, t, {{"linger.ms", "0"}, {"socket.nagle.disable", "true"}});
    for (int i = 0; i < n; ++i) {
        const auto next = Clock::now() + gap;
        const std::int64_t sent = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
        rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_VALUE(const_cast<std::int64_t*>(&sent), sizeof sent), RD_KAFKA_V_END);
        rd_kafka_poll(producer, 0);
        std::this_thread::sleep_until(next);
    }
    rd_kafka_flush(producer, 10000);
    const auto deadline = Clock::now() + 30s;
    while (!done.load() && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
    done.store(true);
    reader.join();
    rd_kafka_destroy(producer);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return delays;
}

}  // namespace

int main(int argc, char** argv) try {
    auto target = bench::parse_target(argc, argv);
    const long burst_arg = bench::arg_long(argc, argv, "--burst", 64);
    for (int i = 1; i + 1 < argc; ++i)
        if (std::string{argv[i]} == "--admin") admin_bootstrap = argv[i + 1];
    const long backlog_arg = bench::arg_long(argc, argv, "--backlog", 1000);
    const std::chrono::milliseconds latency{bench::arg_long(argc, argv, "--latency", 200)};
    const long steady_n = bench::arg_long(argc, argv, "--steady", 200);
    if (const long wait = bench::arg_long(argc, argv, "--fetch-wait", -1); wait >= 0)
        consumer_tuning["fetch.wait.max.ms"] = std::to_string(wait);
    if (backlog_arg < 100 || backlog_arg > 1000000 || burst_arg < 1 || burst_arg > 100000 || latency.count() < 0 ||
        steady_n < 10 || steady_n > 100000) {
        std::fprintf(stderr, "bench_supervisor: --backlog takes 100 to 1000000 events (a smaller one is uploaded "
                             "before the first result is seen: no rate to measure), --burst 1 to 100000, "
                             "--latency 0 or more, --steady 10 to 100000\n");
        return 2;
    }
    const int burst_n = static_cast<int>(burst_arg);
    const int backlog_n = static_cast<int>(backlog_arg);
    const std::size_t window = gracedb::SupervisorOptions{}.max_in_flight;
    gracedb::set_log_level(gracedb::LogLevel::error);
    std::cout << "bench_supervisor: " << target.describe() << ", GraceDB stand-in on loopback, topic of 16 partitions\n";

    const bool only_steady = [&] {
        for (int i = 1; i < argc; ++i)
            if (std::string{argv[i]} == "--only-steady") return true;
        return false;
    }();
    if (!only_steady) {
    std::printf("1. burst of %d events while the supervisor runs, each upload answered after %lld ms:\n", burst_n,
                static_cast<long long>(latency.count()));
    const double seq = burst(target, 1, burst_n, latency);
    std::printf("   one at a time (max_in_flight=1)   : %6.2f s\n", seq);
    const double conc = burst(target, window, burst_n, latency);
    std::printf("   concurrent (max_in_flight=%zu)     : %6.2f s (target <= 1.0 s) = %.1fx faster\n", window, conc,
                seq / conc);

    std::printf("2. backlog of %d events, no server latency (first upload to last):\n", backlog_n);
    const double b1 = backlog(target, 1, backlog_n, nullptr);
    std::printf("   one at a time (max_in_flight=1)   : %8.0f events/s\n", b1);
    gracedb::LatencySummary delays;
    const double bn = backlog(target, window, backlog_n, &delays);
    std::printf("   concurrent (max_in_flight=%zu)     : %8.0f events/s (target >= 2000/s on the mock) = %.1fx\n", window,
                bn, bn / b1);
    std::printf("   produce-to-upload delay in the backlog (bounded summary): p50 %.3f s, p99 %.3f s, max %.3f s\n",
                delays.p50(), delays.p99(), delays.max_s);
    }

    std::printf("3. steady state: %ld events 20 ms apart, no server latency (produce to upload)%s:\n", steady_n,
                consumer_tuning.empty() ? "" : (", fetch.wait.max.ms=" + consumer_tuning["fetch.wait.max.ms"]).c_str());
    const auto anchor = raw_anchor(target, static_cast<int>(steady_n), 20ms);
    const auto ours = steady(target, static_cast<int>(steady_n), 20ms);
    std::printf("   raw librdkafka produce-to-consume  : p50 %6.2f ms, p99 %6.2f ms (%zu messages)\n",
                1e3 * bench::percentile(anchor, 0.5), 1e3 * bench::percentile(anchor, 0.99), anchor.size());
    std::printf("   supervisor produce-to-upload       : p50 %6.2f ms, p99 %6.2f ms (%zu events; target p50 <= %s)\n",
                1e3 * bench::percentile(ours, 0.5), 1e3 * bench::percentile(ours, 0.99), ours.size(),
                target.sasl() ? "3 ms, p99 <= 10 ms on the rig" : "5 ms on the mock cluster");
    return 0;
} catch (const std::exception& e) {
    std::cerr << "bench_supervisor: " << e.what() << "\n";
    return 1;
}
