// rig-tool: the C++ helpers of the Kafka test rig (tests/rig/kafka-rig.sh).
//   rig-tool jwks --key issuer.key --kid rig-key-1            JWKS of the issuer's public key
//   rig-tool mint --key issuer.key --iss ... --aud ... [...]   a signed test SciToken (to stdout or --out)
//   rig-tool wait-ready --bootstrap 127.0.0.1:9092 [--timeout 60] [--brokers N]   ask for metadata until the
//                                                    broker answers (and lists at least N brokers)
//   rig-tool acl --bootstrap ... --principal User:x --topic-prefix p. [...]   allow principals on topics
#include <CLI/CLI.hpp>
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "common/rdkafka.hpp"
#include "testrig.hpp"

using namespace gracedb;
using Clock = std::chrono::steady_clock;

namespace {

detail::KafkaHandle admin_client(const std::string& bootstrap) {
    char errstr[512];
    detail::KafkaConf conf{rd_kafka_conf_new()};
    rd_kafka_conf_set(conf.get(), "bootstrap.servers", bootstrap.c_str(), errstr, sizeof errstr);
    rd_kafka_conf_set(conf.get(), "log_level", "2", errstr, sizeof errstr);
    detail::KafkaHandle rk{rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr)};
    if (!rk) throw std::runtime_error(errstr);
    conf.release();
    return rk;
}

int wait_ready(const std::string& bootstrap, int timeout_s, int min_brokers) {
    auto rk = admin_client(bootstrap);
    const auto deadline = Clock::now() + std::chrono::seconds{timeout_s};
    const auto start = Clock::now();
    while (Clock::now() < deadline) {
        const rd_kafka_metadata_t* md = nullptr;
        if (rd_kafka_metadata(rk.get(), 1, nullptr, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            detail::KafkaMetadata owned{md};
            if (md->broker_cnt >= min_brokers) {
                std::cout << md->broker_cnt << " broker(s) ready after "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()
                          << " ms of waiting\n";
                return 0;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{200});
    }
    std::cerr << "rig-tool: the broker at " << bootstrap << " gave no metadata within " << timeout_s << " s\n";
    return 1;
}

int create_acls(const std::string& bootstrap, const std::vector<std::string>& principals,
                const std::vector<std::string>& topic_prefixes) {
    auto rk = admin_client(bootstrap);
    char errstr[512];
    std::vector<detail::AclBinding> bindings;
    auto add = [&](rd_kafka_ResourceType_t type, const std::string& name, rd_kafka_ResourcePatternType_t pattern,
                   const std::string& principal) {
        bindings.emplace_back(rd_kafka_AclBinding_new(type, name.c_str(), pattern, principal.c_str(), "*",
                                                      RD_KAFKA_ACL_OPERATION_ALL,
                                                      RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errstr, sizeof errstr));
        if (!bindings.back()) throw std::runtime_error(errstr);
    };
    for (const auto& p : principals) {
        for (const auto& prefix : topic_prefixes)
            add(RD_KAFKA_RESOURCE_TOPIC, prefix, RD_KAFKA_RESOURCE_PATTERN_PREFIXED, p);
        add(RD_KAFKA_RESOURCE_GROUP, "*", RD_KAFKA_RESOURCE_PATTERN_LITERAL, p);
    }
    std::vector<rd_kafka_AclBinding_t*> raw;
    for (auto& b : bindings) raw.push_back(b.get());
    detail::KafkaQueue queue{rd_kafka_queue_new(rk.get())};
    rd_kafka_CreateAcls(rk.get(), raw.data(), raw.size(), nullptr, queue.get());
    detail::KafkaEvent ev{rd_kafka_queue_poll(queue.get(), 30000)};
    if (!ev) {
        std::cerr << "rig-tool: CreateAcls timed out\n";
        return 1;
    }
    if (rd_kafka_event_error(ev.get())) {
        std::cerr << "rig-tool: CreateAcls failed: " << rd_kafka_event_error_string(ev.get()) << "\n";
        return 1;
    }
    size_t n = 0;
    const rd_kafka_acl_result_t** results =
        rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev.get()), &n);
    for (size_t i = 0; i < n; ++i)
        if (const rd_kafka_error_t* e = rd_kafka_acl_result_error(results[i])) {
            std::cerr << "rig-tool: ACL " << i << " refused: " << rd_kafka_error_string(e) << "\n";
            return 1;
        }
    std::cout << "created " << n << " ACL bindings\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) try {
    CLI::App app{"helpers of the gracedb-cpp Kafka test rig"};
    app.require_subcommand(1);

    std::string key, kid = "rig-key-1";
    auto* jwks = app.add_subcommand("jwks", "print the JWKS of an RSA private key's public half");
    jwks->add_option("--key", key, "PEM private key")->required();
    jwks->add_option("--kid", kid, "key id");

    testing::TokenSpec spec;
    std::vector<std::string> aud;
    std::int64_t lifetime = 600;
    std::string out;
    auto* mint = app.add_subcommand("mint", "mint a signed test SciToken");
    mint->add_option("--key", key, "PEM private key")->required();
    mint->add_option("--kid", spec.kid, "key id");
    mint->add_option("--iss", spec.iss, "issuer")->required();
    mint->add_option("--sub", spec.sub, "subject");
    mint->add_option("--aud", aud, "audience (repeat for a list)");
    mint->add_option("--scope", spec.scope, "space-separated scopes");
    mint->add_option("--lifetime", lifetime, "seconds from now to exp (negative: already expired)");
    mint->add_option("--out", out, "write the token to this file (mode 0600) instead of stdout");

    std::string bootstrap;
    int timeout = 60, min_brokers = 1;
    auto* ready = app.add_subcommand("wait-ready", "wait until the broker answers a metadata request");
    ready->add_option("--bootstrap", bootstrap)->required();
    ready->add_option("--timeout", timeout, "seconds");
    ready->add_option("--brokers", min_brokers, "wait until the metadata lists at least this many brokers");

    std::vector<std::string> principals, prefixes;
    auto* acl = app.add_subcommand("acl", "allow principals everything on topic prefixes and on all groups");
    acl->add_option("--bootstrap", bootstrap)->required();
    acl->add_option("--principal", principals)->required();
    acl->add_option("--topic-prefix", prefixes)->required();

    CLI11_PARSE(app, argc, argv);

    if (*jwks) {
        std::cout << testing::jwks_for(testing::read_file(key), kid) << "\n";
        return 0;
    }
    if (*mint) {
        const auto now = testing::now_seconds();
        spec.aud = aud;
        spec.iat = now - 60;
        spec.exp = now + lifetime;
        auto token = testing::mint_token(testing::read_file(key), spec);
        if (out.empty())
            std::cout << token << "\n";
        else
            testing::write_secret_file(out, token + "\n");
        return 0;
    }
    if (*ready) return wait_ready(bootstrap, timeout, min_brokers);
    if (*acl) return create_acls(bootstrap, principals, prefixes);
    return 2;
} catch (const std::exception& e) {
    std::cerr << "rig-tool: " << e.what() << "\n";
    return 1;
}
