// gracedb-kafka produce: send one message (argument, --file, or standard input).
#include <fstream>
#include <iostream>
#include <memory>

#include "tool.hpp"

namespace gracedb::app {
namespace {

struct ProduceArgs {
    Connection conn;
    std::string topic, value, file, key;
    std::vector<std::string> headers;
};

int run(const ProduceArgs& a) {
    std::string bytes;
    if (!a.file.empty()) {
        std::ifstream in{a.file, std::ios::binary};
        if (!in) throw std::invalid_argument("cannot read " + a.file);
        bytes = read_all(in);
    } else if (a.value.empty() || a.value == "-") {
        bytes = read_all(std::cin);
    } else {
        bytes = a.value;
    }
    kafka::ProduceOptions po{.topic = a.topic, .key = opt(a.key)};
    for (const auto& h : a.headers) {
        const auto eq = h.find('=');
        if (eq == std::string::npos || eq == 0)
            throw std::invalid_argument("--header wants name=value, got \"" + h + "\"");
        po.headers.emplace_back(h.substr(0, eq), h.substr(eq + 1));
    }
    const auto options = producer_options(a.conn);
    kafka::Producer p{options};
    const auto r = p.produce_and_wait(bytes, po, options.flush_timeout);
    if (r.error) {
        close_producer(p, std::chrono::milliseconds{0});  // it already waited its timeout
        throw kafka::KafkaMessageDeliveryError("not delivered to " + r.topic + ": " + *r.error);
    }
    close_producer(p, options.flush_timeout);
    std::cout << r.topic << " partition " << r.partition << " offset " << r.offset << "\n";
    return 0;
}

}  // namespace

Command add_produce(CLI::App& parent) {
    auto a = std::make_shared<ProduceArgs>();
    auto* sub = parent.add_subcommand("produce", "send one message (argument, --file, or standard input)");
    add_connection_options(*sub, a->conn, {.scope = "kafka.produce", .timeout = true});
    sub->add_option("-t,--topic", a->topic, "pipeline, e.g. test")->required();
    sub->add_option("value", a->value, "the message; '-' or nothing: standard input");
    sub->add_option("-f,--file", a->file, "send this file's bytes");
    sub->add_option("-k,--key", a->key, "message key");
    add_repeatable(*sub, "-H,--header", a->headers, "header name=value (repeatable; repeats are kept)");
    return {sub, [a] { return run(*a); }};
}

}  // namespace gracedb::app
