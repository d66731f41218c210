// outbox_publisher SERVICE_URL BOOTSTRAP OUTBOX_DIR|- TAG: a publishing process for the outbox kill test
// (tests/unit/test_outbox_kill.cpp), which SIGKILLs it at random moments. Prints "ready" at start, then
// "asked TAG-N" before each create_event of an event whose file is "<event tag='TAG-N'/>", forever. With an
// outbox, the client first completes what earlier (killed) runs left unfinished.
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    if (argc != 5) {
        std::cerr << "usage: outbox_publisher SERVICE_URL BOOTSTRAP OUTBOX_DIR|- TAG\n";
        return 2;
    }
    const std::string service_url = argv[1], bootstrap = argv[2], outbox = argv[3], tag = argv[4];
    auto say = [](const std::string& line) {  // unbuffered: the parent reads it before the kill
        const std::string l = line + "\n";
        if (::write(1, l.data(), l.size()) < 0) std::_Exit(3);
    };
    say("ready");
    try {
        gracedb::GraceDbOptions go{.force_noauth = true};
        if (outbox != "-") go.outbox = outbox;
        gracedb::GraceDb client{service_url, go};
        auto producer = client.create_kafka_producer(
            {.bootstrap_servers = bootstrap, .kafka_config = {{"security.protocol", "plaintext"}}});
        for (long i = 0;; ++i) {
            const std::string name = tag + "-" + std::to_string(i);
            say("asked " + name);
            client.create_event("Test", "gstlal", "event.xml",
                                {.filecontents = "<event tag='" + name + "'/>", .kafka = &producer});
        }
    } catch (const std::exception& e) {
        std::cerr << "outbox_publisher: " << e.what() << "\n";
        return 1;
    }
}
