// gracedb-kafka standin: the GraceDB stand-in alone, until SIGINT/SIGTERM. The first line of standard output
// is its service URL.
#include <gracedb/signals.hpp>
#include <gracedb/testing/standin.hpp>

#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "tool.hpp"

namespace gracedb::app {
namespace {

struct StandInArgs {
    int port = 0;
    std::string bind = "127.0.0.1", host = "localhost", jwks_file, audience, issuer, scope = "gracedb.read",
                store, tls_cert, tls_key, client_ca;
    std::vector<std::string> principals;
    double upload_latency_s = 0;
    int throttle_rate = 0;
};

std::string read_text_file(const std::string& path, const std::string& what) {
    std::ifstream in{path, std::ios::binary};
    if (!in) throw std::invalid_argument("cannot read the " + what + " " + path);
    return read_all(in);
}

int run(const StandInArgs& a) {
    StopSignals signals;
    StandInOptions o;
    o.bind_address = a.bind;
    o.port = a.port;
    o.url_host = a.host;
    if (!a.jwks_file.empty()) o.jwks = read_text_file(a.jwks_file, "JWKS file");
    o.audience = opt(a.audience);
    o.issuer = opt(a.issuer);
    o.required_scope = a.scope;
    o.service_principals = a.principals;
    o.store_file = opt(a.store);
    o.tls_cert_file = opt(a.tls_cert);
    o.tls_key_file = opt(a.tls_key);
    o.client_ca_file = opt(a.client_ca);
    o.upload_latency = to_ms(a.upload_latency_s);
    o.creations_per_second = a.throttle_rate;
    if (o.tls_cert_file.has_value() != o.tls_key_file.has_value())
        throw std::invalid_argument("--tls-cert and --tls-key go together");
    StandIn standin{std::move(o)};
    std::cout << standin.service_url() << "\n"
              << "GraceDB stand-in on " << a.bind << ":" << standin.port() << ", token checks "
              << (a.jwks_file.empty() ? "off (every request is accepted)" : "on (JWKS " + a.jwks_file + ")")
              << (a.store.empty() ? "" : ", events stored in " + a.store) << ". Ctrl-C stops.\n";
    std::cout.flush();
    while (!StopSignals::received()) std::this_thread::sleep_for(std::chrono::milliseconds{100});
    std::cout << "standin stopped: " << standin.event_count() << " event(s)\n";
    return 0;
}

}  // namespace

Command add_standin(CLI::App& parent) {
    auto a = std::make_shared<StandInArgs>();
    auto* sub = parent.add_subcommand(
        "standin", "run the GraceDB stand-in alone until Ctrl-C; the first line of output is its service URL");
    sub->add_option("--port", a->port, "TCP port (default: a free one)")->check(CLI::Range(0, 65535));
    sub->add_option("--bind", a->bind, "address to listen on (default 127.0.0.1)");
    sub->add_option("--host", a->host,
                    "host name in the service URL (default localhost; its first label names the Kafka instance)");
    sub->add_option("--jwks", a->jwks_file, "JWKS file: bearer tokens are then required and verified")
        ->check(CLI::ExistingFile);
    sub->add_option("--audience", a->audience, "audience tokens must carry (default https://<host>)");
    sub->add_option("--issuer", a->issuer, "issuer tokens must come from");
    sub->add_option("--scope", a->scope, "scope tokens must carry (default gracedb.read)");
    add_repeatable(*sub, "--service-principal", a->principals,
                   "token subject allowed to upload the reservations of others, e.g. the supervisor (repeatable)");
    sub->add_option("--store", a->store, "keep events in this file (reloaded at start)");
    sub->add_option("--upload-latency", a->upload_latency_s,
                    "seconds each event creation and reserved upload takes (default 0)")
        ->check(seconds_in(0, 3600));
    sub->add_option("--throttle-rate", a->throttle_rate,
                    "event creations allowed per user per second, then 429 with Retry-After (default 0: off; the "
                    "real GraceDB: 25)")
        ->check(CLI::Range(0, 100000));
    sub->add_option("--tls-cert", a->tls_cert, "serve HTTPS with this certificate (PEM)")->check(CLI::ExistingFile);
    sub->add_option("--tls-key", a->tls_key, "the certificate's private key (PEM)")->check(CLI::ExistingFile);
    sub->add_option("--client-ca", a->client_ca, "require client certificates from this CA (X.509 authentication)")
        ->check(CLI::ExistingFile);
    return {sub, [a] { return run(*a); }};
}

}  // namespace gracedb::app
