// gracedb-kafka check's steps, one function each: the Kafka token, the broker (TCP), TLS, SASL and the
// topic (a ping), the GraceDB API root, the GraceDB token, the supervisor's heartbeat.
#include <iostream>

#include "check_steps.hpp"
#include "common/url.hpp"
#include "heartbeat_check.hpp"
#include "output.hpp"

namespace gracedb::app::check {
namespace {

bool is_authorization(const Error& e) { return e.code() == Errc::authorization_failed; }

}  // namespace

Run::Run(const CheckArgs& args)
    : a{args}, timeout{to_ms(args.conn.timeout_s)}, service_url{args.conn.service_url} {}

void Run::kafka_token() {
    if (!uses_sasl(a.conn)) {
        report.step("kafka-token", Status::skip, std::nullopt,
                    "--protocol " + a.conn.protocol + " sends no token");
        return;
    }
    const auto t0 = Clock::now();
    const TokenRequirements req{a.conn.audience.empty() ? kafka::default_kafka_audience(a.conn.bootstrap)
                                                        : a.conn.audience,
                                a.conn.scope};
    const auto search = find_scitoken(req);
    const double ms = ms_since(t0);
    if (search.token && search.token->matches) {
        report.step("kafka-token", Status::ok, ms, describe_token(*search.token));
    } else if (search.token) {
        token_ok = false;
        report.step("kafka-token", Status::fail, ms,
                    "no token for audience \"" + req.audience + "\" and scope \"" + req.scope + "\"; found " +
                        describe_token(*search.token),
                    "get a token with that audience and scope (e.g. htgettoken --audience " + req.audience +
                        " --scopes " + req.scope +
                        "), or say which the brokers expect with --token-audience/--token-scope");
    } else {
        token_ok = false;
        report.step("kafka-token", Status::fail, ms, "no usable SciToken: " + places_text(search),
                    "get one (e.g. htgettoken --audience " + req.audience + " --scopes " + req.scope +
                        ") or point $BEARER_TOKEN_FILE at it; an expired token must be renewed");
    }
}

void Run::broker() {
    const auto brokers = parse_bootstrap(a.conn.bootstrap);
    const auto t0 = Clock::now();
    std::string failures;
    for (const auto& b : brokers) {
        std::string error;
        Fd s = connect_tcp(b, timeout, error);
        if (s.fd >= 0) {
            reached = b;
            socket = std::move(s);
            break;
        }
        failures += (failures.empty() ? "" : "; ") + b.text() + ": " + error;
    }
    const double ms = ms_since(t0);
    if (reached) {
        report.step("broker", Status::ok, ms,
                    reached->text() + " accepts TCP connections" +
                        (failures.empty() ? "" : " (" + failures + ")"));
    } else {
        report.step("broker", Status::fail, ms, "no broker reachable: " + failures,
                    "check -b (host:port of the brokers' listener for your protocol), the network, a "
                    "firewall; is the broker up?");
    }
}

void Run::tls() {
    tls_ok = reached.has_value();
    if (!reached) {
        report.step("tls", Status::skip, std::nullopt, "not run: no broker reachable");
    } else if (!uses_tls(a.conn)) {
        report.step("tls", Status::skip, std::nullopt, "--protocol " + a.conn.protocol + " does not use TLS");
    } else {
        const auto t0 = Clock::now();
        const auto out = check_tls(socket.fd, *reached, a.conn.ca, a.conn.skip_hostname);
        tls_ok = out.ok;
        report.step("tls", out.ok ? Status::ok : Status::fail, ms_since(t0), out.detail, out.advice);
    }
    socket = Fd{};
}

void Run::ping() {
    if (!reached || !tls_ok || !token_ok) {
        const std::string why = !reached ? "no broker reachable" : !tls_ok ? "TLS failed" : "no usable token";
        if (uses_sasl(a.conn)) report.step("sasl", Status::skip, std::nullopt, "not run: " + why);
        report.step("topic", Status::skip, std::nullopt, "not run: " + why);
        return;
    }
    const auto t0 = Clock::now();
    std::string topic_name;
    try {
        auto options = producer_options(a.conn);
        kafka::Producer p{options};
        topic_name = p.topic_for(a.topic);
        try {
            const auto r = p.ping(a.topic, timeout);
            const double ms = ms_since(t0);
            close_producer(p, timeout);
            if (uses_sasl(a.conn)) {
                const auto c = p.token_claims();
                report.step("sasl", Status::ok, std::nullopt,
                            "the broker accepted the token (OAUTHBEARER" +
                                (c ? ", principal User:" + c->sub : std::string{}) + "), as the ping shows");
            }
            report.step("topic", Status::ok, ms,
                        "ping delivered to " + r.topic + " partition " + std::to_string(r.partition) +
                            " offset " + std::to_string(r.offset));
        } catch (...) {
            close_producer(p, milliseconds{0});
            throw;
        }
    } catch (const kafka::KafkaTokenError& e) {
        report.step("sasl", Status::fail, ms_since(t0), e.what(), "get a usable token (see step 1)");
        report.step("topic", Status::skip, std::nullopt, "not run: no token");
    } catch (const Error& e) {
        const double ms = ms_since(t0);
        const std::string what = with_client_cause(e.what());
        if (is_authorization(e)) {
            if (uses_sasl(a.conn))
                report.step("sasl", Status::ok, std::nullopt, "the broker accepted the token");
            report.step("topic", Status::fail, ms, "the broker refused the topic " + topic_name + ": " + what,
                        "this principal may not write " + topic_name +
                            ": check the pipeline (-t) and instance (--service-url/--instance), or ask the "
                            "Kafka administrators for write access to it");
        } else if (uses_sasl(a.conn) &&
                   (e.code() == Errc::authentication_failed || e.code() == Errc::token_unusable ||
                    dynamic_cast<const kafka::KafkaAuthenticationError*>(&e))) {
            report.step("sasl", Status::fail, ms, "the broker refused the token: " + what,
                        "the brokers check the token's signature, issuer, audience (--token-audience) and "
                        "expiry: get a fresh token for these brokers");
            report.step("topic", Status::skip, std::nullopt, "not run: SASL failed");
        } else {
            const std::string step = uses_sasl(a.conn) ? "sasl" : "topic";
            report.step(step, Status::fail, ms, what,
                        "the broker took the connection but the ping did not get through: see the message; "
                        "--log-level debug shows the Kafka client's log");
            if (step == "sasl") report.step("topic", Status::skip, std::nullopt, "not run: the ping failed");
        }
    } catch (const std::invalid_argument& e) {
        report.step("topic", Status::fail, ms_since(t0), e.what(), "fix the option it names");
    }
}

void Run::gracedb_api() {
    const auto t0 = Clock::now();
    try {
        // GraceDB lets anyone read its root; a server that wants credentials for it gets the token, but only
        // over https.
        const bool anonymous = a.no_auth || !service_url.starts_with("https://");
        GraceDb client{service_url, {.force_noauth = anonymous, .ca_cert_path = opt(a.gracedb_ca),
                                     .timeout = timeout, .max_retries = 0}};
        root = client.api_root();
        report.step("gracedb-api", Status::ok, ms_since(t0),
                    client.service_url() + " answered with its API root" +
                        (service_url.starts_with("http://") ? " (plain http: no token will be sent to it)"
                                                            : ""));
    } catch (const HTTPError& e) {
        report.step("gracedb-api", Status::fail, ms_since(t0), e.what(),
                    "is --service-url GraceDB's API root (https://<host>/api/)?");
    } catch (const std::exception& e) {
        report.step("gracedb-api", Status::fail, ms_since(t0), e.what(),
                    "check --service-url, the network (proxy, firewall) and whether GraceDB is up; for HTTPS "
                    "with a private CA pass --gracedb-ca-cert");
    }
}

void Run::gracedb_token() {
    if (a.no_auth) {
        report.step("gracedb-token", Status::skip, std::nullopt,
                    "--no-auth: no credentials are sent to GraceDB");
        return;
    }
    if (root.is_null()) {
        report.step("gracedb-token", Status::skip, std::nullopt,
                    "not run: GraceDB's API root is out of reach");
        return;
    }
    const auto t0 = Clock::now();
    const TokenRequirements req{gracedb_token_audience(service_url), "gracedb.read"};
    const auto search = find_scitoken(req);
    const auto link = root.contains("links") && root["links"].contains("reservations") &&
                              root["links"]["reservations"].is_string()
                          ? root["links"]["reservations"].get<std::string>()
                          : std::string{};
    if (!search.token) {
        report.step("gracedb-token", Status::fail, ms_since(t0),
                    "no usable SciToken for GraceDB: " + places_text(search),
                    "get one with audience " + req.audience + " and scope gracedb.read (e.g. htgettoken)");
    } else if (link.empty()) {
        report.step("gracedb-token", Status::fail, ms_since(t0),
                    "this GraceDB's API root has no \"reservations\" link: it cannot take events over Kafka",
                    "use --transport http with create-event, or a GraceDB that supports reservations");
    } else if (const auto refused = detail::token_refusal(detail::parse_url(service_url), link)) {
        // The library's one rule (the REST client applies it to every request): the service's own origin,
        // over https.
        report.step("gracedb-token", Status::fail, ms_since(t0),
                    "not sent to the \"reservations\" link: " + *refused,
                    "use GraceDB's https:// service URL, whose API root links to itself (or --no-auth "
                    "for a server without authentication); a root that links elsewhere is not GraceDB's");
    } else {
        const auto answer = post_empty_form(link, search.token->token, a.gracedb_ca, timeout);
        const double ms = ms_since(t0);
        const std::string who = describe_token(*search.token);
        if (!answer.error.empty()) {
            report.step("gracedb-token", Status::fail, ms, "POST " + link + " failed: " + answer.error,
                        "check the network and --gracedb-ca-cert");
        } else if (answer.status == 400 || answer.status == 201) {
            report.step("gracedb-token", Status::ok, ms,
                        "GraceDB accepted the token for reservations (" + who + ")" +
                            (answer.status == 400
                                 ? "; the empty test request was refused as intended, nothing reserved"
                                 : "; the server reserved a graceid for the empty request"));
        } else if (answer.status == 401 || answer.status == 403) {
            report.step("gracedb-token", Status::fail, ms,
                        "GraceDB did not accept the token (HTTP " + std::to_string(answer.status) + ": " +
                            answer.body.substr(0, 200) + "); token: " + who,
                        "GraceDB wants audience " + req.audience +
                            ", scope gracedb.read, a trusted issuer and a known user: get such a token");
        } else {
            report.step("gracedb-token", Status::fail, ms,
                        "POST " + link + " answered HTTP " + std::to_string(answer.status) + ": " +
                            answer.body.substr(0, 200),
                        "is this GraceDB's API root? tell its operators what it answered");
        }
    }
}

void Run::supervisor() {
    if (!reached || !tls_ok || !token_ok) {
        report.step("supervisor", Status::skip, std::nullopt, "not run: the brokers are out of reach");
        return;
    }
    const auto t0 = Clock::now();
    const auto f = find_heartbeat(a.conn, std::chrono::seconds{15}, std::min(timeout, milliseconds{15000}));
    report.step("supervisor", f.alive ? Status::ok : Status::warn, ms_since(t0), f.detail, f.advice);
}

}  // namespace gracedb::app::check
