// gracedb-kafka listen: stream messages as JSON lines (output.hpp: message_line) until Ctrl-C or --count.
#include <iostream>
#include <memory>

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
};

// "^regex" selects pipelines by a pattern: it is confined to the instance ("^<instance>\.(regex)"), so that
// no pattern reaches the topics of another instance. Other names are pipelines, namespaced by the consumer.
std::string confine(const std::string& topic, const std::string& instance) {
    if (!topic.starts_with('^')) return topic;
    // An instance name is [A-Za-z0-9_-]+ (make_topic_name checks it): nothing in it needs escaping.
    return "^" + instance + "\\.(" + topic.substr(1) + ")";
}

int run(const ListenArgs& a) {
    auto o = consumer_options(a.conn);
    if (!a.group_id.empty()) o.group_id = a.group_id;
    if (a.from_beginning) o.auto_offset_reset = "earliest";
    kafka::Consumer c{o};
    if (a.topics.empty()) {
        c.subscribe_all();
    } else {
        std::vector<std::string> topics;
        for (const auto& t : a.topics) topics.push_back(confine(t, c.instance_name()));
        c.subscribe(topics);
    }
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
    return {sub, [a] { return run(*a); }};
}

}  // namespace gracedb::app
