// gracedb-kafka deadletters: what the supervisor dead-lettered, and replaying chosen ones once the cause is fixed.
//   list    one JSON line per dead letter of the instance: its offset in the dead-letter topic, the reason, the
//           graceid, where the original was (topic[partition]@offset), its size, whether the copy is truncated
//   replay  publishes the chosen dead letters again to the topic they came from (value, key and the original
//           headers; plus dlq.replayed_from), so that the supervisor tries them again. A truncated copy cannot
//           be replayed from the dead-letter topic: the message says where the original is.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <memory>
#include <set>

#include "tool.hpp"

namespace gracedb::app {
namespace {

struct DeadLetterArgs {
    Connection conn;
    std::string prefix = "gracedb-deadletter";
    double wait_s = 3;  // the end of the topic: no message for this long
    std::vector<std::string> offsets;  // replay: which (offsets in the dead-letter topic)
    bool all = false;
    bool dry_run = false;
};

// The last header of that name: the supervisor's own come after the original's (which it renames anyway).
std::optional<std::string> header(const kafka::Message& m, std::string_view name) {
    std::optional<std::string> found;
    for (const auto& [k, v] : m.headers)
        if (k == name) found = v;
    return found;
}

std::string instance_of(const Connection& c) {
    if (!c.instance.empty()) return c.instance;
    if (!c.service_url.empty()) return kafka::derive_instance_name(c.service_url);
    throw std::invalid_argument("name the instance whose dead letters to read: --instance or --service-url");
}

// Every dead letter, read from the beginning by a consumer of its own (no group offsets are committed).
std::vector<kafka::Message> read_dead_letters(const DeadLetterArgs& a) {
    auto o = consumer_options(a.conn);
    o.topics = {instance_of(a.conn)};
    o.instance_name = a.prefix;
    o.service_url.reset();
    o.group_id.reset();
    o.auto_offset_reset = "earliest";
    o.kafka_config["enable.auto.commit"] = "false";
    kafka::Consumer c{o};
    std::vector<kafka::Message> out;
    c.wait_for_assignment(to_ms(std::max(a.wait_s, 10.0)));
    while (auto m = c.poll(to_ms(a.wait_s))) out.push_back(std::move(*m));
    std::sort(out.begin(), out.end(), [](const kafka::Message& x, const kafka::Message& y) {
        return std::pair{x.partition, x.offset} < std::pair{y.partition, y.offset};
    });
    return out;
}

std::string source_of(const kafka::Message& m) {
    return header(m, "dlq.topic").value_or("?") + "[" + header(m, "dlq.partition").value_or("?") + "]@" +
           header(m, "dlq.offset").value_or("?");
}

int list(const DeadLetterArgs& a) {
    for (const auto& m : read_dead_letters(a)) {
        nlohmann::json line = {{"offset", m.offset},
                               {"partition", m.partition},
                               {"reason", header(m, "dlq.reason").value_or("")},
                               {"graceid", header(m, "dlq.graceid") ? nlohmann::json(*header(m, "dlq.graceid"))
                                                                    : nlohmann::json(nullptr)},
                               {"source", source_of(m)},
                               {"bytes", m.value.size()}};
        if (auto t = header(m, "dlq.value_truncated_from")) line["truncated_from"] = std::stoll(*t);
        std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    return 0;
}

int replay(const DeadLetterArgs& a) {
    if (a.offsets.empty() && !a.all)
        throw std::invalid_argument("choose what to replay: --offset N (repeatable; see `deadletters list`) or --all");
    // "P:O" (partition and offset, as `list` shows them) or "O" (any partition: refused when ambiguous).
    std::set<std::pair<std::int32_t, std::int64_t>> chosen;  // partition -1: any
    auto number = [](const std::string& text, const std::string& whole) {
        std::size_t used = 0;
        long long v = -1;
        try {
            v = std::stoll(text, &used);
        } catch (const std::exception&) {
        }
        if (v < 0 || used != text.size() || text.empty())
            throw std::invalid_argument("--offset takes PARTITION:OFFSET or OFFSET (numbers, 0 or more), not \"" +
                                        whole + "\"");
        return v;
    };
    for (const auto& s : a.offsets) {
        const auto colon = s.find(':');
        if (colon == std::string::npos) chosen.insert({-1, number(s, s)});
        else chosen.insert({static_cast<std::int32_t>(number(s.substr(0, colon), s)), number(s.substr(colon + 1), s)});
    }
    const auto instance = instance_of(a.conn);
    auto po = producer_options(a.conn);
    po.token_scope = "kafka.produce";
    std::optional<kafka::Producer> producer;
    int replayed = 0, refused = 0;
    const auto letters = read_dead_letters(a);
    for (const auto& [p, o] : chosen) {
        if (p >= 0) continue;
        const auto same = std::count_if(letters.begin(), letters.end(), [o = o](const kafka::Message& m) {
            return m.offset == o;
        });
        if (same > 1)
            throw std::invalid_argument("--offset " + std::to_string(o) + " is in several partitions of the dead-letter "
                                        "topic: say which, as PARTITION:OFFSET (see `deadletters list`)");
    }
    std::set<std::pair<std::int32_t, std::int64_t>> done;
    for (const auto& m : letters) {
        const std::pair<std::int32_t, std::int64_t> exact{m.partition, m.offset}, any{-1, m.offset};
        if (!a.all && !chosen.count(exact) && !chosen.count(any)) continue;
        done.insert(chosen.count(exact) ? exact : any);
        const auto topic = header(m, "dlq.topic").value_or("");
        std::string pipeline;
        try {
            const auto [inst, pipe] = kafka::parse_topic_name(topic);
            if (inst != instance) throw std::invalid_argument("another instance");
            pipeline = pipe;
        } catch (const std::invalid_argument&) {
            std::cerr << "offset " << m.offset << ": not replayed: its source topic \"" << topic
                      << "\" is not a topic of instance " << instance << "\n";
            ++refused;
            continue;
        }
        if (auto t = header(m, "dlq.value_truncated_from")) {
            std::cerr << "offset " << m.offset << ": not replayed: the copy is truncated (" << m.value.size() << " of "
                      << *t << " bytes); the original is at " << source_of(m) << " until the topic's retention\n";
            ++refused;
            continue;
        }
        kafka::ProduceOptions o{.topic = pipeline, .key = m.key};
        for (const auto& [k, v] : m.headers)
            if (v && !k.starts_with("dlq.")) o.headers.emplace_back(k, *v);
        o.headers.emplace_back("dlq.replayed_from", std::to_string(m.partition) + "@" + std::to_string(m.offset));
        std::cout << (a.dry_run ? "would replay " : "replaying ") << "offset " << m.offset << " ("
                  << header(m, "dlq.graceid").value_or("no graceid") << ") to " << topic << "\n";
        if (a.dry_run) continue;
        if (!producer) producer.emplace(po);
        producer->produce(std::string_view{m.value}, std::move(o));
        ++replayed;
    }
    for (const auto& [p, o] : chosen) {
        if (done.count({p, o})) continue;
        std::cerr << "offset " << (p >= 0 ? std::to_string(p) + ":" : std::string{}) << o << ": no such dead letter\n";
        ++refused;
    }
    if (producer) {
        const int left = producer->flush(to_ms(a.conn.timeout_s));
        if (left > 0) throw std::runtime_error(std::to_string(left) + " replayed message(s) not delivered in time");
    }
    std::cout << "replayed " << replayed << (refused ? ", " + std::to_string(refused) + " not replayed" : "") << "\n";
    return refused ? 1 : 0;
}

}  // namespace

Command add_deadletters(CLI::App& parent) {
    auto a = std::make_shared<DeadLetterArgs>();
    auto* sub = parent.add_subcommand("deadletters", "list the supervisor's dead letters, or replay chosen ones");
    sub->require_subcommand(1);
    auto* ls = sub->add_subcommand("list", "one JSON line per dead letter: offset, reason, graceid, source, size");
    auto* rp = sub->add_subcommand("replay",
                                   "publish chosen dead letters again to the topic they came from (once the cause "
                                   "is fixed), for the supervisor to try again");
    for (auto* s : {ls, rp}) {
        add_connection_options(*s, a->conn, {.scope = "kafka.consume", .timeout = s == rp});
        s->add_option("--dead-letter-prefix", a->prefix, "the dead-letter topic is <prefix>.<instance>")
            ->default_str(a->prefix);
        s->add_option("--wait", a->wait_s, "seconds without a message that mark the end of the topic")
            ->check(seconds_in(0.1, 600))
            ->default_str("3");
    }
    add_repeatable(*rp, "--offset", a->offsets,
                   "PARTITION:OFFSET (or OFFSET) in the dead-letter topic, as list shows it (repeatable)");
    rp->add_flag("--all", a->all, "replay every dead letter in the topic (also those replayed before: their uploads "
                                  "are idempotent)");
    rp->add_flag("--dry-run", a->dry_run, "say what would be replayed, publish nothing");
    return {sub, [a, ls] { return ls->parsed() ? list(*a) : replay(*a); }};
}

}  // namespace gracedb::app
