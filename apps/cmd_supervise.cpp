// gracedb-kafka supervise: run the supervisor, which completes reserved uploads from Kafka.
#include <gracedb/supervisor.hpp>

#include <iostream>
#include <memory>

#include "tool.hpp"

namespace gracedb::app {
namespace {

struct SuperviseArgs {
    Connection conn;
    std::string gracedb_ca, group_id, dead_letter = "gracedb-deadletter", metrics;
    bool no_auth = false;
    double heartbeat_s = 5;
};

int run(const SuperviseArgs& a) {
    if (a.conn.service_url.empty())
        throw std::invalid_argument("the supervisor needs --service-url (or $GRACEDB_SERVICE_URL)");
    auto co = consumer_options(a.conn);
    if (!a.group_id.empty()) co.group_id = a.group_id;
    GraceDbOptions rest;  // not inline: GCC 12 -O2 warns (maybe-uninitialized) on its optionals there
    rest.force_noauth = a.no_auth;
    rest.ca_cert_path = opt(a.gracedb_ca);
    Supervisor s{{.consumer = co,
                  .service_url = a.conn.service_url,
                  .rest = std::move(rest),
                  .dead_letter_prefix = a.dead_letter,
                  .metrics_address = opt(a.metrics),
                  .heartbeat_interval = to_ms(a.heartbeat_s)}};
    if (auto port = s.metrics_port()) std::cerr << "supervisor: metrics on port " << *port << "\n";
    s.run();  // until SIGINT/SIGTERM (gracedb::StopSignals)
    const auto st = s.stats();
    std::cerr << "supervisor stopped: uploaded " << st.uploaded << ", already uploaded " << st.already_uploaded
              << ", skipped " << st.skipped << ", dead-lettered " << st.dead_lettered << ", retries " << st.retries
              << "\n";
    return 0;
}

}  // namespace

Command add_supervise(CLI::App& parent) {
    auto a = std::make_shared<SuperviseArgs>();
    auto* sub = parent.add_subcommand("supervise", "run the supervisor: complete reserved uploads from Kafka");
    add_connection_options(*sub, a->conn, {.scope = "kafka.consume"});
    add_gracedb_ca_option(*sub, a->gracedb_ca);
    // Every option can come from the environment: the systemd unit's environment file (packaging/systemd/).
    sub->add_option("-g,--group-id", a->group_id, "consumer group (default gracedb-supervisor-<instance>)")
        ->envname("GRACEDB_SUPERVISOR_GROUP_ID");
    sub->add_option("--dead-letter-prefix", a->dead_letter, "dead-letter topic is <prefix>.<instance>")
        ->envname("GRACEDB_SUPERVISOR_DEAD_LETTER_PREFIX");
    sub->add_flag("--no-auth", a->no_auth, "send no credentials to GraceDB")
        ->envname("GRACEDB_SUPERVISOR_NO_AUTH");
    sub->add_option("--metrics", a->metrics,
                    "serve /metrics (Prometheus), /healthz and /readyz on HOST:PORT (port 0: a free one)")
        ->envname("GRACEDB_SUPERVISOR_METRICS");
    sub->add_option("--heartbeat", a->heartbeat_s,
                    "seconds between heartbeats to gracedb-heartbeat.<instance> (0: none)")
        ->default_str("5")
        ->check(seconds_in(0, 3600))
        ->envname("GRACEDB_SUPERVISOR_HEARTBEAT");
    return {sub, [a] { return run(*a); }};
}

}  // namespace gracedb::app
