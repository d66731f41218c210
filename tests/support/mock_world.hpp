// Test support for the supervisor's unit tests: a raw librdkafka mock cluster (so that broker errors can be
// injected) with the GraceDB stand-in, a recorder of the supervisor's events, and a stepping helper.
#pragma once

#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/supervisor.hpp>
#include <gracedb/testing/standin.hpp>
#include <gtest/gtest.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace gracedb::testing_support {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A raw mock cluster (one broker), a stand-in without authentication, and one pipeline topic.
struct MockWorld {
    std::string instance = "supmock" + std::to_string(std::random_device{}() % 1000000);
    std::string pipeline = "gstlal";
    rd_kafka_t* handle = nullptr;
    rd_kafka_mock_cluster_t* cluster = nullptr;
    std::string bootstrap;
    std::unique_ptr<StandIn> standin;

    explicit MockWorld(int partitions, std::chrono::milliseconds latency = 0ms) {
        char err[256];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err);
        handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        if (!handle) throw std::runtime_error(err);
        cluster = rd_kafka_handle_mock_cluster(handle);
        bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
        rd_kafka_mock_topic_create(cluster, topic().c_str(), partitions, 1);
        rd_kafka_mock_topic_create(cluster, ("gracedb-deadletter." + instance).c_str(), 1, 1);
        StandInOptions so{.url_host = instance + ".localhost"};
        so.pipelines = {pipeline};
        so.upload_latency = latency;
        standin = std::make_unique<StandIn>(std::move(so));
    }
    ~MockWorld() {
        standin.reset();
        rd_kafka_destroy(handle);
    }
    MockWorld(const MockWorld&) = delete;
    MockWorld& operator=(const MockWorld&) = delete;

    std::string topic() const { return instance + "." + pipeline; }
    std::map<std::string, std::string> plaintext() const { return {{"security.protocol", "plaintext"}}; }

    kafka::Producer producer() const {
        return kafka::Producer{{.bootstrap_servers = bootstrap, .topic = pipeline, .instance_name = instance,
                                .kafka_config = plaintext()}};
    }

    // Reserves and publishes `n` events over Kafka, as a pipeline does; `partition` pins them to one.
    std::vector<std::string> submit(int n) {
        GraceDb client{standin->service_url(), {.force_noauth = true}};
        auto p = producer();
        std::vector<std::string> ids;
        for (int i = 0; i < n; ++i) {
            auto r = client.create_event("CBC", pipeline, "e.xml", {.filecontents = "event " + std::to_string(i), .kafka = &p});
            ids.push_back(r.json()["graceid"]);
        }
        return ids;
    }

    SupervisorOptions options(const std::string& group) const {
        return {.consumer = {.bootstrap_servers = bootstrap,
                             .instance_name = instance,
                             .group_id = group,
                             .kafka_config = {{"security.protocol", "plaintext"},
                                              {"session.timeout.ms", "6000"},
                                              {"heartbeat.interval.ms", "300"}}},
                .service_url = standin->service_url(),
                .rest = {.force_noauth = true},
                .initial_backoff = 100ms,
                .max_backoff = 200ms,
                .poll_timeout = 50ms,
                .commit_interval = 50ms,
                .handle_signals = false};
    }

    // The offset committed by `group` for one partition (-1: none), read by a separate client.
    std::int64_t committed(const std::string& group, std::int32_t partition) const {
        char err[256];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
        rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof err);
        rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
        if (!rk) throw std::runtime_error(err);
        auto* list = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(list, topic().c_str(), partition);
        std::int64_t out = -2;
        if (rd_kafka_committed(rk, list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR && !list->elems[0].err)
            out = list->elems[0].offset < 0 ? -1 : list->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(list);
        rd_kafka_destroy(rk);
        return out;
    }

    // Every message of the dead-letter topic (value, dlq.reason), read from the beginning.
    std::vector<std::pair<std::string, std::string>> dead_letters(std::size_t expected) const {
        kafka::Consumer c{{.bootstrap_servers = bootstrap,
                           .topics = {instance},
                           .instance_name = "gracedb-deadletter",
                           .auto_offset_reset = "earliest",
                           .kafka_config = plaintext()}};
        std::vector<std::pair<std::string, std::string>> out;
        const auto deadline = Clock::now() + 30s;
        while (out.size() < expected && Clock::now() < deadline) {
            auto m = c.poll(200ms);
            if (!m) continue;
            std::string reason;
            for (const auto& [k, v] : m->headers)
                if (k == "dlq.reason" && v) reason = *v;
            out.emplace_back(m->value, reason);
        }
        return out;
    }
};

// Events seen through on_event, from any thread.
struct Recorder {
    std::mutex mutex;
    std::vector<SupervisorEvent> events;
    std::function<void(const SupervisorEvent&)> hook() {
        return [this](const SupervisorEvent& e) {
            std::lock_guard lock{mutex};
            events.push_back(e);
        };
    }
    std::size_t count(const std::string& outcome, const std::optional<std::string>& graceid = std::nullopt,
                      std::optional<std::int32_t> partition = std::nullopt) {
        std::lock_guard lock{mutex};
        return static_cast<std::size_t>(std::count_if(events.begin(), events.end(), [&](const SupervisorEvent& e) {
            return e.outcome == outcome && (!graceid || e.graceid == graceid) && (!partition || e.partition == *partition);
        }));
    }
};

// Steps `s` until `done()` or the deadline; true if done.
template <class F>
bool step_until(Supervisor& s, F done, std::chrono::seconds timeout = 60s) {
    const auto deadline = Clock::now() + timeout;
    while (!done() && Clock::now() < deadline) s.step();
    return done();
}


}  // namespace gracedb::testing_support
