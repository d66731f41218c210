// gracedb-kafka: the command-line tool of gracedb-cpp.
//   ping, token, produce, listen, create-event, supervise, sandbox, demo   (--help on each)
// Options fall back to environment variables: GRACEDB_KAFKA_BOOTSTRAP, GRACEDB_SERVICE_URL, GRACEDB_KAFKA_CA,
// GRACEDB_KAFKA_PROTOCOL. Exit status 0 on success; otherwise one line on standard error saying what to do.
#include <CLI/CLI.hpp>
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/supervisor.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include "detail/text.hpp"
#include "sample_event.hpp"
#include <gracedb/testing/sandbox.hpp>

using namespace gracedb;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_signal(int sig) { g_signal = sig; }
void install_signals() {
    struct sigaction sa {};
    sa.sa_handler = &on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

struct KafkaArgs {
    std::string bootstrap;
    std::string service_url;
    std::string instance;
    std::string ca;
    std::string protocol = "sasl_ssl";
    bool skip_hostname = false;
    std::vector<std::string> config;
    std::string audience;
    std::string scope;
};

void add_kafka_args(CLI::App* sub, KafkaArgs& a, const std::string& scope) {
    a.scope = scope;
    sub->add_option("-b,--bootstrap", a.bootstrap, "Kafka brokers, host:port[,...]")->envname("GRACEDB_KAFKA_BOOTSTRAP")->required();
    auto* url = sub->add_option("--service-url", a.service_url, "GraceDB service URL (names the instance)")->envname("GRACEDB_SERVICE_URL");
    sub->add_option("--instance", a.instance, "instance name, instead of --service-url")->excludes(url);
    sub->add_option("--ca-cert", a.ca, "CA bundle for the brokers' TLS")->envname("GRACEDB_KAFKA_CA");
    sub->add_option("--protocol", a.protocol, "sasl_ssl (default), sasl_plaintext, ssl or plaintext")
        ->envname("GRACEDB_KAFKA_PROTOCOL")
        ->check(CLI::IsMember({"sasl_ssl", "sasl_plaintext", "ssl", "plaintext"}));
    sub->add_flag("--skip-hostname-verification", a.skip_hostname, "accept a broker certificate for another name (testing)");
    sub->add_option("-X,--kafka-config", a.config, "librdkafka setting key=value (repeatable)");
    sub->add_option("--token-audience", a.audience, "audience the SciToken must carry (default: the broker's host)");
    sub->add_option("--token-scope", a.scope, "scope the SciToken must carry");
}

std::map<std::string, std::string> kafka_config(const KafkaArgs& a) {
    std::map<std::string, std::string> out;
    if (a.protocol == "plaintext" || a.protocol == "ssl") out["security.protocol"] = a.protocol;
    for (const auto& kv : a.config) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos) throw std::invalid_argument("-X wants key=value, got \"" + kv + "\"");
        out[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    return out;
}

std::optional<std::string> opt(const std::string& s) { return s.empty() ? std::nullopt : std::optional<std::string>{s}; }

void need_instance(const KafkaArgs& a) {
    if (a.service_url.empty() && a.instance.empty())
        throw std::invalid_argument("give --service-url (or $GRACEDB_SERVICE_URL) or --instance: topics are namespaced by instance");
}

// ProducerOptions or ConsumerOptions from the common command-line options (the same member names).
template <class Options>
Options client_options(const KafkaArgs& a) {
    need_instance(a);
    Options o{};
    o.bootstrap_servers = a.bootstrap;
    o.instance_name = opt(a.instance);
    o.service_url = a.instance.empty() ? opt(a.service_url) : std::nullopt;
    o.use_ssl = a.protocol != "sasl_plaintext";
    o.ca_cert_path = opt(a.ca);
    o.skip_hostname_verification = a.skip_hostname;
    o.token_scope = a.scope;
    o.token_audience = opt(a.audience);
    o.kafka_config = kafka_config(a);
    return o;
}
kafka::ProducerOptions producer_options(const KafkaArgs& a) { return client_options<kafka::ProducerOptions>(a); }
kafka::ConsumerOptions consumer_options(const KafkaArgs& a) { return client_options<kafka::ConsumerOptions>(a); }

std::string read_all(std::istream& in) { return {std::istreambuf_iterator<char>{in}, {}}; }

nlohmann::json message_json(const kafka::Message& m) {
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [k, v] : m.headers) headers[k] = v ? nlohmann::json(*v) : nlohmann::json(nullptr);
    nlohmann::json value = nlohmann::json::parse(m.value, nullptr, false);
    if (value.is_discarded()) value = m.value;
    return {{"topic", m.topic},
            {"partition", m.partition},
            {"offset", m.offset},
            {"key", m.key ? nlohmann::json(*m.key) : nlohmann::json(nullptr)},
            {"timestamp", m.timestamp ? nlohmann::json(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                           m.timestamp->time_since_epoch()).count())
                                      : nlohmann::json(nullptr)},
            {"headers", headers},
            {"value", value}};
}

std::string format_timings(const Response& r) {
    std::ostringstream out;
    for (const auto& [step, d] : r.timings) out << "  " << step << ": " << static_cast<double>(d.count()) / 1000.0 << " ms\n";
    return out.str();
}

int cmd_token(const KafkaArgs& a, const std::string& service_url) {
    TokenRequirements req;
    if (!service_url.empty()) {
        req = {a.audience.empty() ? gracedb_token_audience(service_url) : a.audience,
               a.scope == "kafka.produce" ? "gracedb.read" : a.scope};
    } else {
        req = {a.audience.empty() ? kafka::default_kafka_audience(a.bootstrap) : a.audience, a.scope};
    }
    auto search = find_scitoken(req);
    std::cout << "wanted: audience \"" << req.audience << "\", scope \"" << req.scope << "\"\n";
    for (const auto& p : search.places) std::cout << "  " << p.place << ": " << p.finding << "\n";
    if (!search.token) {
        std::cerr << "gracedb-kafka token: no usable SciToken; get one (e.g. htgettoken) or set $BEARER_TOKEN_FILE\n";
        return 1;
    }
    const auto& c = search.token->claims;
    std::cout << "using: " << search.token->source << (search.token->matches ? "" : " (fallback: does not match)") << "\n"
              << "  sub: " << c.sub << "\n  aud: " << detail::join_quoted(c.aud) << "\n  scope: " << c.scope
              << "\n  exp: " << (c.exp ? detail::format_utc(*c.exp) : "-") << "\n  fingerprint: "
              << token_fingerprint(search.token->token) << "\n";
    return 0;
}

int cmd_demo(const std::string& event_file) {
    std::cout << "gracedb-kafka demo: the whole create-event flow on the embedded sandbox\n";
    const auto t0 = Clock::now();
    gracedb::testing::Sandbox sandbox;
    std::cout << "1. sandbox up in " << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()
              << " ms: Kafka (librdkafka mock cluster) " << sandbox.bootstrap_servers() << ", GraceDB stand-in "
              << sandbox.service_url() << ", supervisor consuming \"" << sandbox.instance() << ".*\"\n";

    std::string contents, filename;
    if (!event_file.empty() && std::ifstream{event_file}) {
        std::ifstream in{event_file, std::ios::binary};
        contents = read_all(in);
        filename = std::filesystem::path{event_file}.filename().string();
        std::cout << "2. event file: " << event_file << " (" << contents.size() << " bytes)\n";
    } else {
        contents = app::sample_event;
        filename = "sample-coinc.xml";
        std::cout << "2. event file: the project's own sample LIGO_LW coinc (" << contents.size() << " bytes)"
                  << (event_file.empty() ? "" : "; " + event_file + " was not found") << "\n";
    }

    kafka::Consumer follower{{.bootstrap_servers = sandbox.bootstrap_servers(),
                              .topics = {"gstlal"},
                              .instance_name = sandbox.instance(),
                              .kafka_config = gracedb::testing::Sandbox::kafka_config()}};
    if (!follower.wait_for_assignment(20s)) throw std::runtime_error("the follow-up consumer got no partition");

    GraceDb client{sandbox.service_url(), {.force_noauth = true}};
    auto producer = client.create_kafka_producer({.bootstrap_servers = sandbox.bootstrap_servers(),
                                                  .kafka_config = gracedb::testing::Sandbox::kafka_config()});
    auto r = client.create_event("CBC", "gstlal", filename,
                                 {.search = "AllSky", .filecontents = contents, .labels = {"EM_READY"}, .kafka = &producer});
    const auto body = r.json();
    const std::string graceid = body["graceid"];
    std::cout << "3. create_event over Kafka: graceid " << graceid << " reserved, message on " << body["topic"].get<std::string>()
              << "[" << body["partition"] << "]@" << body["offset"] << "\n"
              << format_timings(r);

    std::optional<kafka::Message> seen;
    for (int i = 0; i < 40 && !seen; ++i) seen = follower.poll(250ms);
    if (!seen) throw std::runtime_error("the follow-up consumer did not receive the event");
    const auto msg = seen->json();
    std::cout << "4. a follow-up consumer received it: key " << seen->key.value_or("-") << ", type " << msg["type"]
              << ", eventFile " << msg["eventFile"][0] << " (" << msg["eventFile"][1].get<std::string>().size()
              << " base64 characters)\n";

    const auto deadline = Clock::now() + 20s;
    auto stats = sandbox.supervisor().stats();
    while (stats.uploaded == 0 && Clock::now() < deadline) {
        if (!sandbox.failure().empty()) throw std::runtime_error("supervisor failed: " + sandbox.failure());
        std::this_thread::sleep_for(20ms);
        stats = sandbox.supervisor().stats();
    }
    if (stats.uploaded == 0 || !sandbox.standin().event(graceid))
        throw std::runtime_error("the supervisor did not complete the upload of " + graceid);
    std::cout << "5. the supervisor completed the upload";
    if (!stats.delays_s.empty()) std::cout << " " << stats.delays_s.back() * 1000 << " ms after the produce";
    std::cout << "\n";

    const auto fetched = client.event(graceid).json();
    const auto file = client.get(fetched["links"]["event_file"].get<std::string>());
    const bool exact = file.body == contents;
    std::cout << "6. fetched back from GraceDB: " << fetched["graceid"].get<std::string>() << ", group "
              << fetched["group"].get<std::string>() << ", pipeline " << fetched["pipeline"].get<std::string>()
              << ", submitter " << fetched["submitter"].get<std::string>() << ", event file "
              << (exact ? "byte-exact" : "DIFFERENT") << "; " << sandbox.standin().alerts().size()
              << " \"new\" alert sent (topic " << sandbox.alerts_topic() << ")\n";
    std::cout << "graceid: " << graceid << "\n";
    return exact ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"gracedb-kafka: publish and consume GraceDB events over Kafka (gracedb-cpp " + std::string{gracedb::version} + ")"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string{gracedb::version});
    // Errors end as one line of our own: the library's warnings are shown only when asked for.
    std::string log_level = "off";
    app.add_option("--log-level", log_level, "debug, info, warning, error, off (default off; supervise: info)")
        ->envname("GRACEDB_LOG_LEVEL");

    KafkaArgs ping_args, produce_args, listen_args, supervise_args, create_args, token_args;
    std::string topic, key, file, group_id, value, service_url, group, pipeline, search, transport = "kafka",
                                                                                      dead_letter = "gracedb-deadletter",
                                                                                      event_file;
    std::vector<std::string> headers, labels;
    double timeout_s = 10;
    std::size_t count = 0;
    bool from_beginning = false, offline = false, fallback = false, no_upload = false, skip_supervisor = false,
         no_auth = false;

    auto* ping = app.add_subcommand("ping", "check connectivity and authentication: send a ping and wait for it");
    add_kafka_args(ping, ping_args, "kafka.produce");
    ping->add_option("-t,--topic", topic, "pipeline to ping (default: test)");
    ping->add_option("--timeout", timeout_s, "seconds");

    auto* token = app.add_subcommand("token", "show which SciToken discovery finds, and its claims (never the token)");
    token->add_option("-b,--bootstrap", token_args.bootstrap, "Kafka brokers (the audience is the first host)")->envname("GRACEDB_KAFKA_BOOTSTRAP");
    token->add_option("--service-url", service_url, "GraceDB service URL (look for a GraceDB token instead)");
    token->add_option("--token-audience", token_args.audience, "audience wanted");
    token->add_option("--token-scope", token_args.scope, "scope wanted")->default_str("kafka.produce");
    token_args.scope = "kafka.produce";

    auto* produce = app.add_subcommand("produce", "send one message (argument, --file, or standard input)");
    add_kafka_args(produce, produce_args, "kafka.produce");
    produce->add_option("-t,--topic", topic, "pipeline, e.g. test")->required();
    produce->add_option("value", value, "the message; '-' or nothing: standard input");
    produce->add_option("-f,--file", file, "send this file's bytes");
    produce->add_option("-k,--key", key, "message key");
    produce->add_option("-H,--header", headers, "header name=value (repeatable)");

    auto* listen = app.add_subcommand("listen", "stream messages as JSON lines to standard output until Ctrl-C");
    add_kafka_args(listen, listen_args, "kafka.consume");
    std::vector<std::string> topics;
    listen->add_option("-t,--topic", topics, "pipelines (repeatable; default: every topic of the instance)");
    listen->add_flag("--from-beginning", from_beginning, "replay from the earliest offset");
    listen->add_option("-g,--group-id", group_id, "stable consumer group (resume across runs)");
    listen->add_option("-c,--count", count, "stop after this many messages");

    auto* create = app.add_subcommand("create-event", "create a GraceDB event, over Kafka (default) or HTTP");
    create->add_option("group", group, "CBC, Burst, Test, ...")->required();
    create->add_option("pipeline", pipeline, "gstlal, MBTA, CWB, ...")->required();
    create->add_option("file", file, "the event file")->required()->check(CLI::ExistingFile);
    create->add_option("--service-url", create_args.service_url, "GraceDB service URL")->envname("GRACEDB_SERVICE_URL")->required();
    create->add_option("-b,--bootstrap", create_args.bootstrap, "Kafka brokers")->envname("GRACEDB_KAFKA_BOOTSTRAP");
    create->add_option("--ca-cert", create_args.ca, "CA bundle for the brokers")->envname("GRACEDB_KAFKA_CA");
    create->add_option("--protocol", create_args.protocol, "Kafka security protocol")->envname("GRACEDB_KAFKA_PROTOCOL");
    create->add_option("-X,--kafka-config", create_args.config, "librdkafka setting key=value");
    create->add_option("--search", search, "AllSky, EarlyWarning, MDC, ...");
    create->add_option("--label", labels, "label (repeatable)");
    create->add_flag("--offline", offline, "an offline event");
    create->add_option("--transport", transport, "kafka or http")->check(CLI::IsMember({"kafka", "http"}));
    create->add_flag("--fallback", fallback, "fall back to HTTP when the Kafka path fails");
    create->add_flag("--no-upload", no_upload, "publish without reserving a graceid (gracedb_upload=false)");
    create->add_flag("--skip-supervisor", skip_supervisor, "ask the supervisor not to upload it");
    create->add_flag("--no-auth", no_auth, "send no credentials to GraceDB");

    auto* supervise = app.add_subcommand("supervise", "run the supervisor: complete reserved uploads from Kafka");
    add_kafka_args(supervise, supervise_args, "kafka.consume");
    supervise->add_option("-g,--group-id", group_id, "consumer group (default gracedb-supervisor-<instance>)");
    supervise->add_option("--dead-letter-prefix", dead_letter, "dead-letter topic is <prefix>.<instance>");
    supervise->add_flag("--no-auth", no_auth, "send no credentials to GraceDB");

    auto* sandbox = app.add_subcommand("sandbox", "run Kafka (mock), a GraceDB stand-in and a supervisor until Ctrl-C");
    auto* demo = app.add_subcommand("demo", "the whole create-event flow on the embedded sandbox, then exit");
    demo->add_option("--event-file", event_file, "event file to submit (default: the project's sample)");

    CLI11_PARSE(app, argc, argv);
    for (auto l : {LogLevel::debug, LogLevel::info, LogLevel::warning, LogLevel::error, LogLevel::off})
        if (to_string(l) == log_level) set_log_level(l);
    const std::string sub = app.get_subcommands().front()->get_name();
    try {
        if (*token) return cmd_token(token_args, service_url);
        if (*ping) {
            auto po = producer_options(ping_args);
            po.flush_timeout = std::chrono::milliseconds{static_cast<long>(timeout_s * 1000)};
            kafka::Producer p{po};
            auto r = p.ping(opt(topic), po.flush_timeout);
            std::cout << "ping delivered to " << r.topic << " partition " << r.partition << " offset " << r.offset << "\n";
            if (auto c = p.token_claims())
                std::cout << "token: sub " << c->sub << ", scope \"" << c->scope << "\", expires "
                          << (c->exp ? detail::format_utc(*c->exp) : "-") << "\n";
            return 0;
        }
        if (*produce) {
            std::string bytes;
            if (!file.empty()) {
                std::ifstream in{file, std::ios::binary};
                if (!in) throw std::invalid_argument("cannot read " + file);
                bytes = read_all(in);
            } else if (value.empty() || value == "-") {
                bytes = read_all(std::cin);
            } else {
                bytes = value;
            }
            kafka::ProduceOptions po{.topic = topic, .key = opt(key)};
            for (const auto& h : headers) {
                const auto eq = h.find('=');
                if (eq == std::string::npos) throw std::invalid_argument("--header wants name=value, got \"" + h + "\"");
                po.headers.emplace_back(h.substr(0, eq), h.substr(eq + 1));
            }
            kafka::Producer p{producer_options(produce_args)};
            auto r = p.produce_and_wait(bytes, po, p.flush_timeout());
            if (r.error) throw kafka::KafkaMessageDeliveryError("not delivered to " + r.topic + ": " + *r.error);
            std::cout << r.topic << " partition " << r.partition << " offset " << r.offset << "\n";
            return 0;
        }
        if (*listen) {
            auto o = consumer_options(listen_args);
            if (!group_id.empty()) o.group_id = group_id;
            if (from_beginning) o.auto_offset_reset = "earliest";
            kafka::Consumer c{o};
            if (topics.empty()) c.subscribe_all(); else c.subscribe(topics);
            auto stream = c.stream(500ms, count ? std::optional<std::size_t>{count} : std::nullopt);
            for (const auto& m : stream) {
                std::cout << message_json(m).dump() << "\n";
                std::cout.flush();
                if (!std::cout) break;  // the reader of the pipe went away
            }
            return 0;
        }
        if (*create) {
            GraceDb client{create_args.service_url, {.force_noauth = no_auth}};
            CreateEventOptions o{.search = opt(search), .offline = offline, .labels = labels, .http_fallback = fallback,
                                 .gracedb_upload = !no_upload, .skip_supervisor = skip_supervisor};
            std::optional<kafka::Producer> p;
            if (transport == "kafka") {
                if (create_args.bootstrap.empty())
                    throw std::invalid_argument("--transport kafka needs --bootstrap (or $GRACEDB_KAFKA_BOOTSTRAP)");
                p.emplace(client.create_kafka_producer({.bootstrap_servers = create_args.bootstrap,
                                                         .use_ssl = create_args.protocol != "sasl_plaintext",
                                                         .ca_cert_path = opt(create_args.ca),
                                                         .kafka_config = kafka_config(create_args)}));
                o.kafka = &*p;
            }
            auto r = client.create_event(group, pipeline, file, o);
            const auto body = r.json();
            std::cout << "graceid: " << (body["graceid"].is_string() ? body["graceid"].get<std::string>() : "(none)")
                      << " (HTTP " << r.status << (body.contains("topic") ? ", published to " + body["topic"].get<std::string>() : "")
                      << ")\n" << format_timings(r);
            return 0;
        }
        if (*supervise) {
            if (supervise_args.service_url.empty())
                throw std::invalid_argument("the supervisor needs --service-url (or $GRACEDB_SERVICE_URL)");
            if (log_level == "off") set_log_level(LogLevel::info);  // one line per event
            auto co = consumer_options(supervise_args);
            if (!group_id.empty()) co.group_id = group_id;
            Supervisor s{{.consumer = co,
                          .service_url = supervise_args.service_url,
                          .rest = {.force_noauth = no_auth},
                          .dead_letter_prefix = dead_letter}};
            s.run();
            const auto st = s.stats();
            std::cerr << "supervisor stopped: uploaded " << st.uploaded << ", already uploaded " << st.already_uploaded
                      << ", skipped " << st.skipped << ", dead-lettered " << st.dead_lettered << ", retries "
                      << st.retries << "\n";
            return 0;
        }
        if (*sandbox) {
            install_signals();
            gracedb::testing::Sandbox box;
            std::cout << "bootstrap_servers: " << box.bootstrap_servers() << "\nservice_url: " << box.service_url()
                      << "\nexport GRACEDB_KAFKA_BOOTSTRAP=" << box.bootstrap_servers()
                      << " GRACEDB_SERVICE_URL=" << box.service_url() << " GRACEDB_KAFKA_PROTOCOL=plaintext\n"
                      << "(Kafka is librdkafka's mock cluster: plaintext, no SciToken needed; GraceDB stand-in: no "
                         "authentication. Ctrl-C stops.)\n";
            std::cout.flush();
            while (!g_signal) {
                if (!box.failure().empty()) throw std::runtime_error("the sandbox's supervisor failed: " + box.failure());
                std::this_thread::sleep_for(100ms);
            }
            const auto st = box.supervisor().stats();
            std::cout << "sandbox stopped: " << box.standin().event_count() << " event(s) in GraceDB, supervisor uploaded "
                      << st.uploaded << "\n";
            return 0;
        }
        if (*demo) return cmd_demo(event_file);
    } catch (const std::exception& e) {
        std::cerr << "gracedb-kafka " << sub << ": " << e.what() << "\n";
        return 1;
    }
    return 2;
}
