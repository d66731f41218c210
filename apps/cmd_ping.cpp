// gracedb-kafka ping: send a ping message and wait for its delivery (connectivity and authentication).
#include <iostream>
#include <memory>

#include "common/text.hpp"
#include "tool.hpp"

namespace gracedb::app {
namespace {

struct PingArgs {
    Connection conn;
    std::string topic;
};

int run(const PingArgs& a) {
    const auto options = producer_options(a.conn);
    kafka::Producer p{options};
    kafka::PingResult r;
    try {
        r = p.ping(opt(a.topic), options.flush_timeout);
    } catch (...) {
        close_producer(p, std::chrono::milliseconds{0});  // the ping already waited its timeout
        throw;
    }
    close_producer(p, options.flush_timeout);
    std::cout << "ping delivered to " << r.topic << " partition " << r.partition << " offset " << r.offset << "\n";
    if (auto c = p.token_claims())
        std::cout << "token: sub " << c->sub << ", scope \"" << c->scope << "\", expires "
                  << (c->exp ? detail::format_utc(*c->exp) : "-") << "\n";
    return 0;
}

}  // namespace

Command add_ping(CLI::App& parent) {
    auto a = std::make_shared<PingArgs>();
    auto* sub = parent.add_subcommand("ping", "check connectivity and authentication: send a ping and wait for it");
    add_connection_options(*sub, a->conn, {.scope = "kafka.produce", .timeout = true});
    sub->add_option("-t,--topic", a->topic, "pipeline to ping (default: test)");
    return {sub, [a] { return run(*a); }};
}

}  // namespace gracedb::app
