// gracedb-kafka listen: stream messages as JSON lines (output.hpp: message_line) until Ctrl-C or --count.
#include <iostream>
#include <memory>
#include <optional>

#include "output.hpp"
#include "tool.hpp"

namespace gracedb::app {
namespace {

struct ListenArgs {
    Connection conn;
    std::vector<std::string> topics;
    bool from_beginning = false;
    std::string group_id;
    std::size_t count = 0;
    std::optional<double> since_gps, until_gps;
    bool heartbeat = false;
};

// "^regex" selects pipelines by a pattern: it is confined to the instance ("^<instance>\.(regex)"), so that
// no pattern reaches the topics of another instance. Other names are pipelines, namespaced by the consumer.
std::string confine(const std::string& topic, const std::string& instance) {
    if (!topic.starts_with('^')) return topic;
    // An instance name is [A-Za-z0-9_-]+ (make_topic_name checks it): nothing in it needs escaping.
    return "^" + instance + "\\.(" + topic.substr(1) + ")";
}

int print(kafka::Consumer& c, const ListenArgs& a);

int run(const ListenArgs& a) {
    auto o = consumer_options(a.conn);
    if (!a.group_id.empty()) o.group_id = a.group_id;
    if (a.from_beginning) o.auto_offset_reset = "earliest";
    o.since_gps = a.since_gps;
    o.until_gps = a.until_gps;
    if (a.heartbeat) {
        // The supervisor's heartbeats: "gracedb-heartbeat.<instance>", outside the instance's prefix.
        const auto instance =
            o.instance_name ? *o.instance_name : kafka::derive_instance_name(*o.service_url);
        o.instance_name = "gracedb-heartbeat";
        o.service_url.reset();
        kafka::Consumer c{o};
        c.subscribe(instance);
        return print(c, a);
    }
    kafka::Consumer c{o};
    if (a.topics.empty()) {
        c.subscribe_all();
    } else {
        std::vector<std::string> topics;
        for (const auto& t : a.topics) topics.push_back(confine(t, c.instance_name()));
        c.subscribe(topics);
    }
    return print(c, a);
}

int print(kafka::Consumer& c, const ListenArgs& a) {
    auto stream = c.stream(std::chrono::milliseconds{500}, a.count ? std::optional<std::size_t>{a.count} : std::nullopt);
    for (const auto& m : stream) {
        std::cout << message_line(m) << "\n";
        std::cout.flush();
        if (!std::cout) break;  // the reader of the pipe went away
    }
    return 0;
}

}  // namespace

Command add_listen(CLI::App& parent) {
    auto a = std::make_shared<ListenArgs>();
    auto* sub = parent.add_subcommand(
        "listen",
        "stream messages as JSON lines to standard output until Ctrl-C. Each line: topic, partition, offset, "
        "timestamp (ms), key and key_encoding, headers as [name, value] pairs in order, value and value_encoding "
        "(\"json\": the value is JSON and shown as JSON; \"text\": UTF-8 text, shown as a string; \"base64\": "
        "anything else, base64 of its bytes). A header name or value that is not text is {\"base64\": ...}");
    add_connection_options(*sub, a->conn, {.scope = "kafka.consume"});
    add_repeatable(*sub, "-t,--topic", a->topics,
                   "pipeline (repeatable; default: every topic of the instance); \"^regex\" matches pipeline names "
                   "of the instance");
    sub->add_flag("--from-beginning", a->from_beginning, "replay from the earliest offset");
    sub->add_option("-g,--group-id", a->group_id, "stable consumer group (resume across runs)");
    sub->add_option("-c,--count", a->count, "stop after this many messages");
    sub->add_flag("--heartbeat", a->heartbeat,
                  "read the supervisor's heartbeats (topic gracedb-heartbeat.<instance>) instead of the "
                  "instance's topics");
    sub->add_option("--since-gps", a->since_gps,
                    "replay: start every partition at its first message stamped at or after this GPS time "
                    "(seconds, leap seconds handled), whatever the group committed");
    sub->add_option("--until-gps", a->until_gps,
                    "end of the window (exclusive): exit once every partition reached its first message "
                    "stamped at or after this GPS time (or, when that time has passed, its end)");
    return {sub, [a] { return run(*a); }};
}

}  // namespace gracedb::app
