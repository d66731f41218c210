// Specification, "Polling manually": subscribe, then poll() in a loop (here until Ctrl-C via stop()).
//   consumer_polling [bootstrap_servers]
#include <gracedb/kafka.hpp>

#include <csignal>
#include <iostream>

using namespace std::chrono_literals;

namespace {
gracedb::kafka::Consumer* g_consumer = nullptr;
volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_signal(int) { g_stop = 1; }
void handle(const gracedb::kafka::Message& msg) { std::cout << msg.value << "\n"; }
}  // namespace

int main(int argc, char** argv) try {
    using namespace gracedb::kafka;
    Consumer consumer{{.bootstrap_servers = argc > 1 ? argv[1] : "kafka-dev.ligo.org:9092",
                       .service_url = "https://gracedb-dev.ligo.org/api/",
                       .ca_cert_path = "/etc/ssl/certs/ca-certificates.crt"}};
    g_consumer = &consumer;
    std::signal(SIGINT, on_signal);
    consumer.subscribe("test");
    while (!g_stop) {
        std::optional<Message> msg = consumer.poll(1s);
        if (msg) handle(*msg);
    }
    return 0;
} catch (const std::exception& e) {
    std::cerr << "consumer_polling: " << e.what() << "\n";
    return 1;
}
