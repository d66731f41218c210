// The options every Kafka sub-command shares, defined once.
#include "tool.hpp"

#include <cmath>
#include <iterator>
#include <sstream>

namespace gracedb::app {

void add_connection_options(CLI::App& sub, Connection& c, const ConnectionSpec& spec) {
    c.scope = spec.scope;
    auto* bootstrap = sub.add_option("-b,--bootstrap", c.bootstrap, "Kafka brokers, host:port[,...]")
                          ->envname("GRACEDB_KAFKA_BOOTSTRAP");
    if (spec.bootstrap_required) bootstrap->required();
    auto* url = sub.add_option("--service-url", c.service_url,
                               spec.service_url_required ? "GraceDB service URL (also names the Kafka instance)"
                                                         : "GraceDB service URL (names the instance)")
                    ->envname("GRACEDB_SERVICE_URL");
    if (spec.service_url_required) url->required();
    // --instance wins over --service-url ($GRACEDB_SERVICE_URL may be set in the environment).
    sub.add_option("--instance", c.instance,
                   spec.service_url_required ? "Kafka instance name, instead of the one the service URL names"
                                             : "instance name, instead of the one --service-url names")
        ->envname("GRACEDB_KAFKA_INSTANCE");
    sub.add_option("--ca-cert", c.ca, "CA bundle for the brokers' TLS")->envname("GRACEDB_KAFKA_CA");
    sub.add_option("--protocol", c.protocol, "sasl_ssl (default), sasl_plaintext, ssl or plaintext (any case)")
        ->envname("GRACEDB_KAFKA_PROTOCOL")
        ->transform(CLI::IsMember({"sasl_ssl", "sasl_plaintext", "ssl", "plaintext"}, CLI::ignore_case));
    sub.add_flag("--skip-hostname-verification", c.skip_hostname,
                 "accept a broker certificate issued for another name (testing only)");
    add_repeatable(sub, "-X,--kafka-config", c.config, "librdkafka setting key=value (repeatable)");
    sub.add_option("--token-audience", c.audience, "audience the SciToken must carry (default: the broker's host)");
    sub.add_option("--token-scope", c.scope, "scope the SciToken must carry")->default_str(spec.scope);
    if (spec.timeout)
        sub.add_option("--timeout", c.timeout_s, "seconds a message may take to be delivered (default 10)")
            ->check(seconds_in(0.001, 86400));
}

void add_gracedb_ca_option(CLI::App& sub, std::string& path) {
    sub.add_option("--gracedb-ca-cert", path, "CA bundle for GraceDB's HTTPS (default: the system's)")
        ->envname("GRACEDB_CA_CERT");
}

CLI::Option* add_repeatable(CLI::App& sub, const std::string& names, std::vector<std::string>& into,
                            const std::string& help) {
    return sub.add_option(names, into, help)->allow_extra_args(false);
}

CLI::Validator seconds_in(double min_s, double max_s) {
    auto describe = [=] {
        std::ostringstream out;
        out << "a number of seconds from " << min_s << " to " << max_s;
        return out.str();
    };
    return CLI::Validator(
        [=](std::string& text) -> std::string {
            double v = 0;
            std::size_t used = 0;
            try {
                v = std::stod(text, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used == 0 || used != text.size() || !std::isfinite(v) || v < min_s || v > max_s)
                return "\"" + text + "\" is not " + describe();
            return {};
        },
        "SECONDS");
}

std::chrono::milliseconds to_ms(double seconds) {
    // The validators keep seconds finite and at most a day: the conversion cannot overflow.
    return std::chrono::milliseconds{std::llround(seconds * 1000.0)};
}

std::map<std::string, std::string> kafka_config(const Connection& c) {
    std::map<std::string, std::string> out;
    if (c.protocol == "plaintext" || c.protocol == "ssl") out["security.protocol"] = c.protocol;
    for (const auto& kv : c.config) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0)
            throw std::invalid_argument("-X wants key=value, got \"" + kv + "\"");
        out[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    return out;
}

bool uses_tls(const Connection& c) {
    const auto config = kafka_config(c);
    const auto it = config.find("security.protocol");
    const std::string p = it == config.end() ? c.protocol : it->second;
    return p == "sasl_ssl" || p == "ssl" || p == "SASL_SSL" || p == "SSL";
}

bool uses_sasl(const Connection& c) {
    const auto config = kafka_config(c);
    const auto it = config.find("security.protocol");
    const std::string p = it == config.end() ? c.protocol : it->second;
    return p.starts_with("sasl") || p.starts_with("SASL");
}

std::optional<std::string> opt(const std::string& s) { return s.empty() ? std::nullopt : std::optional<std::string>{s}; }

std::string read_all(std::istream& in) { return {std::istreambuf_iterator<char>{in}, {}}; }

namespace {
void need_instance(const Connection& c) {
    if (c.service_url.empty() && c.instance.empty())
        throw std::invalid_argument(
            "give --service-url (or $GRACEDB_SERVICE_URL) or --instance: topics are namespaced by instance");
}
}  // namespace

kafka::Connection kafka_connection(const Connection& c) {
    need_instance(c);
    return {.bootstrap_servers = c.bootstrap,
            .instance_name = opt(c.instance),
            .service_url = c.instance.empty() ? opt(c.service_url) : std::nullopt,  // --instance wins
            .use_ssl = c.protocol != "sasl_plaintext",
            .ca_cert_path = opt(c.ca),
            .skip_hostname_verification = c.skip_hostname,
            .token_scope = c.scope,
            .token_audience = opt(c.audience)};
}

kafka::ProducerOptions producer_options(const Connection& c) {
    kafka::ProducerOptions o;
    kafka_connection(c).apply_to(o);
    o.kafka_config = kafka_config(c);
    o.flush_timeout = to_ms(c.timeout_s);
    return o;
}

kafka::ConsumerOptions consumer_options(const Connection& c) {
    kafka::ConsumerOptions o;
    kafka_connection(c).apply_to(o);
    o.kafka_config = kafka_config(c);
    return o;
}

std::string close_producer(kafka::Producer& p, std::chrono::milliseconds timeout) {
    try {
        p.close(timeout);
        return {};
    } catch (const std::exception& e) {
        return e.what();
    }
}

}  // namespace gracedb::app
