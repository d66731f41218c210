// gracedb-kafka, the command-line tool: what its sub-commands share. One definition of the Kafka connection
// and authentication options (every Kafka sub-command adds them with add_connection_options), the checks of
// numbers and names given on the command line, and the registry of sub-commands (one file each: cmd_*.cpp).
#pragma once

#include <CLI/CLI.hpp>
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>

#include <chrono>
#include <functional>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gracedb::app {

/// A sub-command: its CLI11 node and what runs when it was chosen (returns the exit status).
struct Command {
    CLI::App* app = nullptr;
    std::function<int()> run;
};

Command add_token(CLI::App& parent);
Command add_ping(CLI::App& parent);
Command add_produce(CLI::App& parent);
Command add_listen(CLI::App& parent);
Command add_create_event(CLI::App& parent);
Command add_check(CLI::App& parent);
Command add_supervise(CLI::App& parent);
Command add_sandbox(CLI::App& parent);
Command add_standin(CLI::App& parent);
Command add_demo(CLI::App& parent);
Command add_deadletters(CLI::App& parent);
Command add_outbox(CLI::App& parent);

/// The Kafka connection and authentication options, the same for every Kafka sub-command, as the command
/// line gives them (kafka_connection() makes the library's kafka::Connection of them).
struct Connection {
    std::string bootstrap;
    std::string service_url;
    std::string instance;
    std::string ca;
    std::string protocol = "sasl_ssl";  // lower case once parsed (the option accepts any case)
    bool skip_hostname = false;
    std::vector<std::string> config;
    std::string audience;
    std::string scope;
    double timeout_s = 10;  // producers: how long a message may take (flush_timeout)
};

/// What differs between sub-commands: the token scope wanted, and which options are required.
struct ConnectionSpec {
    std::string scope = "kafka.produce";
    bool bootstrap_required = true;
    /// create-event and check: --service-url is GraceDB's URL (required) and --instance, if given, only names
    /// the Kafka topics' instance. Elsewhere the two exclude each other.
    bool service_url_required = false;
    bool timeout = false;  // adds --timeout (seconds)
};

void add_connection_options(CLI::App& sub, Connection& c, const ConnectionSpec& spec);

/// --gracedb-ca-cert, for sub-commands that talk to GraceDB over HTTPS.
void add_gracedb_ca_option(CLI::App& sub, std::string& path);

/// An option that may be repeated and takes exactly one value each time (`-H a=1 -H b=2 positional`): a
/// repeatable option never swallows the positional arguments after it.
CLI::Option* add_repeatable(CLI::App& sub, const std::string& names, std::vector<std::string>& into,
                            const std::string& help);

/// A number of seconds: finite, within [min_s, max_s]. Refuses nan, inf and 1e30 with a clear message.
CLI::Validator seconds_in(double min_s, double max_s);
/// Seconds (already validated) as milliseconds.
std::chrono::milliseconds to_ms(double seconds);

/// The library's connection of the command line's (--instance wins over --service-url; --protocol
/// sasl_plaintext: use_ssl false). std::invalid_argument when neither a service URL nor an instance was
/// given.
kafka::Connection kafka_connection(const Connection& c);
/// Producer or consumer options from the connection options (kafka_connection, -X settings, --timeout).
/// std::invalid_argument when neither a service URL nor an instance was given, or for a malformed -X setting.
kafka::ProducerOptions producer_options(const Connection& c);
kafka::ConsumerOptions consumer_options(const Connection& c);
std::map<std::string, std::string> kafka_config(const Connection& c);
/// True when the protocol uses TLS (sasl_ssl, ssl), and when it sends a token (sasl_*).
bool uses_tls(const Connection& c);
bool uses_sasl(const Connection& c);

std::optional<std::string> opt(const std::string& s);
std::string read_all(std::istream& in);

/// Closes a producer within `timeout` and never throws: what is still queued is withdrawn. Returns what the
/// close reported (empty when nothing was lost), for the caller to show when it matters. Failed sub-commands
/// call it with 0 ms, so that a failure never waits out its timeout a second time in the destructor.
std::string close_producer(kafka::Producer& p, std::chrono::milliseconds timeout);

/// The last warning or error the library logged (for messages that lack a cause), empty if none.
std::string last_library_warning();  // from the Kafka client (librdkafka or our Kafka classes)
/// `what`, followed by the Kafka client's last warning when `what` does not already say it.
std::string with_client_cause(std::string what);

}  // namespace gracedb::app
