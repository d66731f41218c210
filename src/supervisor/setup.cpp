// The supervisor's options checked, and the settings of its consumer and of its producer (setup.hpp).
#include "supervisor/setup.hpp"

#include <gracedb/kafka/connection.hpp>
#include <gracedb/kafka/topics.hpp>

#include <map>
#include <stdexcept>
#include <string>

namespace gracedb::supervisor_detail {
namespace {

// Only the settings that say how to reach and authenticate to the brokers carry over to the producer.
std::map<std::string, std::string> connection_settings(const std::map<std::string, std::string>& cfg) {
    std::map<std::string, std::string> out;
    static constexpr const char* kPrefixes[] = {"security.",  "ssl.",   "sasl.",  "socket.",
                                                "reconnect.", "broker.", "client."};
    for (const auto& [k, v] : cfg)
        for (const char* prefix : kPrefixes)
            if (k.rfind(prefix, 0) == 0) out[k] = v;
    return out;
}

}  // namespace

void check_options(const SupervisorOptions& o) {
    if (o.service_url.empty()) throw std::invalid_argument("the supervisor needs the GraceDB service_url");
    if (o.max_in_flight == 0)
        throw std::invalid_argument("SupervisorOptions::max_in_flight must be at least 1");
    if (o.max_in_flight > 1024)
        throw std::invalid_argument("SupervisorOptions::max_in_flight is " + std::to_string(o.max_in_flight) +
                                    ": at most 1024 (one thread and one GraceDB connection each)");
}

kafka::ConsumerOptions consumer_options(kafka::ConsumerOptions c) {
    c.topics.clear();
    if (!c.group_id) {
        const auto inst = c.instance_name  ? *c.instance_name
                          : c.service_url ? kafka::derive_instance_name(*c.service_url)
                                          : std::string{};
        c.group_id = "gracedb-supervisor-" + inst;
    }
    c.auto_offset_reset = "earliest";
    c.kafka_config["enable.auto.commit"] = "false";
    return c;
}

kafka::ProducerOptions producer_options_from(const kafka::ConsumerOptions& c) {
    // The one conversion (kafka::Connection): the same brokers, TLS and token settings; the caller names the
    // topic and the instance; the producer keeps its own scope (kafka.produce).
    auto conn = kafka::Connection::from(c);
    conn.instance_name.reset();
    conn.service_url.reset();
    conn.token_scope.reset();
    kafka::ProducerOptions p{.kafka_config = connection_settings(c.kafka_config)};
    conn.apply_to(p);
    return p;
}

}  // namespace gracedb::supervisor_detail
