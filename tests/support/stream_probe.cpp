// stream_probe: a program that streams from a consumer until a signal ends it, for the signal tests.
//   stream_probe mock <ready-file>   on librdkafka's mock cluster
//   stream_probe rig  <ready-file>   on the real broker of the rig ($GRACEDB_RIG_ENV, token by discovery)
// It installs its own SIGTERM/SIGINT handler first, writes <ready-file> once the stream is running, and after
// the stream ends checks that its own handler is back. Exit 0: ended by the signal, handler restored.
#include <gracedb/kafka.hpp>

#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>

#include <gracedb/testing/mock_cluster.hpp>
#include "testrig.hpp"

namespace {
extern "C" void own_handler(int) {}

bool own_handler_installed(int sig) {
    struct sigaction current {};
    sigaction(sig, nullptr, &current);
    return current.sa_handler == &own_handler;
}
}  // namespace

int main(int argc, char** argv) try {
    if (argc != 3) {
        std::cerr << "usage: stream_probe mock|rig <ready-file>\n";
        return 2;
    }
    struct sigaction sa {};
    sa.sa_handler = &own_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);

    std::unique_ptr<gracedb::testing::MockCluster> cluster;
    gracedb::kafka::ConsumerOptions o{.topics = {"probe"}, .instance_name = "rig"};
    if (std::strcmp(argv[1], "mock") == 0) {
        cluster = std::make_unique<gracedb::testing::MockCluster>();
        o.bootstrap_servers = cluster->bootstrap_servers();
        o.kafka_config = {{"security.protocol", "plaintext"}};
    } else {
        const auto& rig = gracedb::testing::Rig::get();
        o.bootstrap_servers = rig.sasl_bootstrap;
        o.ca_cert_path = rig.ca_file;
    }
    gracedb::kafka::Consumer consumer{o};
    std::size_t seen = 0;
    auto stream = consumer.stream(std::chrono::milliseconds{500});
    if (own_handler_installed(SIGTERM)) {
        std::cerr << "stream_probe: the stream did not install its handlers\n";
        return 4;
    }
    std::ofstream{argv[2]} << "streaming\n";
    for (const auto& m : stream) seen += m.value.size();
    const std::string reason = stream.end_reason();
    { auto done = std::move(stream); }  // the stream ends here: handlers restored
    const bool restored = own_handler_installed(SIGTERM) && own_handler_installed(SIGINT);
    std::cout << "ended by " << reason << ", handlers " << (restored ? "restored" : "NOT restored") << "\n";
    return reason == "signal" && restored ? 0 : 3;
} catch (const std::exception& e) {
    std::cerr << "stream_probe: " << e.what() << "\n";
    return 1;
}
