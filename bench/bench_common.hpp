// Shared by the benchmark programs: where the broker is (in-process mock cluster, or a real one), and the
// raw librdkafka configuration equivalent to what the library sets, so that raw and ours compare fairly.
#pragma once

#include <gracedb/kafka.hpp>

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gracedb/testing/mock_cluster.hpp>

namespace bench {

struct Target {
    std::string bootstrap;
    std::optional<std::string> ca;  // set: SASL_SSL with a SciToken found by discovery
    std::string instance = "bench";
    std::unique_ptr<gracedb::testing::MockCluster> mock;
    bool sasl() const { return ca.has_value(); }
    std::string describe() const { return sasl() ? "real broker (SASL_SSL) at " + bootstrap : "mock cluster"; }
};

inline std::map<std::string, std::string> security(const Target& t) {
    if (!t.sasl()) return {{"security.protocol", "plaintext"}};
    return {{"security.protocol", "sasl_ssl"}, {"sasl.mechanisms", "OAUTHBEARER"}, {"ssl.ca.location", *t.ca}};
}

// The raw client's token comes from the same discovery as ours (authentication is not what is measured).
inline void raw_token_refresh(rd_kafka_t* rk, const char*, void* opaque) {
    const auto* t = static_cast<const Target*>(opaque);
    try {
        auto cb = gracedb::kafka::create_oauth_callback(t->bootstrap, "kafka.produce");
        auto tok = cb("");
        char err[256];
        rd_kafka_oauthbearer_set_token(
            rk, tok.token.c_str(),
            std::chrono::duration_cast<std::chrono::milliseconds>(tok.expiry.time_since_epoch()).count(),
            tok.principal.c_str(), nullptr, 0, err, sizeof err);
    } catch (const std::exception& e) {
        rd_kafka_oauthbearer_set_token_failure(rk, e.what());
    }
}

// Raw C code checks its delivery reports: count the failures.
inline std::atomic<long> raw_failures{0};
inline void raw_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
    if (m->err) ++raw_failures;
}

inline rd_kafka_t* raw_client(rd_kafka_type_t type, const Target& t, std::map<std::string, std::string> extra) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    extra["bootstrap.servers"] = t.bootstrap;
    for (const auto& [k, v] : security(t)) extra[k] = v;
    for (const auto& [k, v] : extra)
        if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
            throw std::runtime_error(err);
    rd_kafka_conf_set_opaque(conf, const_cast<Target*>(&t));
    if (t.sasl()) rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf, &raw_token_refresh);
    if (type == RD_KAFKA_PRODUCER) rd_kafka_conf_set_dr_msg_cb(conf, &raw_delivery);
    rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) throw std::runtime_error(err);
    return rk;
}

inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

inline double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    if (v.empty()) return 0;
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

/// --mock (default), or --bootstrap HOST:PORT --ca FILE (token by WLCG discovery).
inline Target parse_target(int argc, char** argv) {
    Target t;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--bootstrap" && i + 1 < argc) t.bootstrap = argv[++i];
        if (a == "--ca" && i + 1 < argc) t.ca = argv[++i];
        if (a == "--instance" && i + 1 < argc) t.instance = argv[++i];
    }
    if (t.bootstrap.empty()) {
        t.mock = std::make_unique<gracedb::testing::MockCluster>();
        t.bootstrap = t.mock->bootstrap_servers();
        t.ca.reset();
    }
    return t;
}

inline long arg_long(int argc, char** argv, const std::string& name, long fallback) {
    for (int i = 1; i + 1 < argc; ++i)
        if (argv[i] == name) return std::stol(argv[i + 1]);
    return fallback;
}

}  // namespace bench
