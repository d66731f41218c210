// gracedb-kafka check: walks the path a publisher depends on and says where it first breaks and what to do.
// Here the command line and the order of the steps (check_steps.cpp), each printed as it ends
// (check_report.cpp); exit status 0 only when every step passed. The token is never printed.

#include <iostream>
#include <memory>

#include "check_steps.hpp"
#include "output.hpp"
#include "tool.hpp"

namespace gracedb::app {
namespace {

using check::CheckArgs;

// The steps in order (check_steps.cpp), each printed as it ends; the summary and the exit status.
int run(const CheckArgs& a) {
    check::Run r{a};
    auto& report = r.report;
    std::cout << "gracedb-kafka check: the path from this machine to GraceDB over Kafka (each step at most "
              << a.conn.timeout_s << " s)\n";
    r.kafka_token();
    r.broker();
    r.tls();
    r.ping();
    r.gracedb_api();
    r.gracedb_token();
    r.supervisor();

    if (report.failed() == 0) {
        std::cout << "all " << report.steps() << " steps passed"
                  << (report.warned() ? " (" + std::to_string(report.warned()) + " with a warning)" : "")
                  << "\n";
        return 0;
    }
    std::cout << report.failed() << " of " << report.steps() << " steps failed\n";
    std::cerr << "gracedb-kafka check: failed at " << repair_utf8(report.first_failure()) << "\n";
    return 1;
}

}  // namespace

Command add_check(CLI::App& parent) {
    auto a = std::make_shared<CheckArgs>();
    auto* sub = parent.add_subcommand(
        "check",
        "walk the whole publishing path (Kafka token, broker, TLS, SASL, topic, GraceDB, GraceDB token, and "
        "the supervisor's heartbeat: a warning when none) step by step, with timings and what to do; exit "
        "status 0 only when every step passed. Run it first when something does not work");
    add_connection_options(*sub, a->conn,
                           {.scope = "kafka.produce", .service_url_required = true, .timeout = true});
    add_gracedb_ca_option(*sub, a->gracedb_ca);
    sub->add_option("-t,--topic", a->topic, "pipeline to ping (default: test)");
    sub->add_flag("--no-auth", a->no_auth, "GraceDB without credentials (skips the GraceDB token step)");
    return {sub, [a] { return run(*a); }};
}

}  // namespace gracedb::app
