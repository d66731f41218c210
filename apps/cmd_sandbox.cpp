// gracedb-kafka sandbox: Kafka (librdkafka's mock cluster), a GraceDB stand-in and a supervisor in one
// process, until SIGINT/SIGTERM.
#include <gracedb/signals.hpp>
#include <gracedb/testing/sandbox.hpp>

#include <iostream>
#include <thread>

#include "tool.hpp"

namespace gracedb::app {
namespace {

int run() {
    StopSignals signals;
    gracedb::testing::Sandbox box;
    std::cout << "bootstrap_servers: " << box.bootstrap_servers() << "\nservice_url: " << box.service_url()
              << "\nexport GRACEDB_KAFKA_BOOTSTRAP=" << box.bootstrap_servers()
              << " GRACEDB_SERVICE_URL=" << box.service_url() << " GRACEDB_KAFKA_PROTOCOL=plaintext"
              << " GRACEDB_KAFKA_INSTANCE=" << box.instance() << "\n"
              << "(Kafka is librdkafka's mock cluster: plaintext, no SciToken needed; GraceDB stand-in: no "
                 "authentication. Ctrl-C stops.)\n";
    std::cout.flush();
    while (!StopSignals::received()) {
        if (!box.failure().empty()) throw std::runtime_error("the sandbox's supervisor failed: " + box.failure());
        std::this_thread::sleep_for(std::chrono::milliseconds{100});
    }
    const auto st = box.supervisor().stats();
    std::cout << "sandbox stopped: " << box.standin().event_count() << " event(s) in GraceDB, supervisor uploaded "
              << st.uploaded << "\n";
    return 0;
}

}  // namespace

Command add_sandbox(CLI::App& parent) {
    auto* sub = parent.add_subcommand("sandbox", "run Kafka (mock), a GraceDB stand-in and a supervisor until Ctrl-C");
    return {sub, [] { return run(); }};
}

}  // namespace gracedb::app
