#include "cluster.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "itest.hpp"

#include <gracedb/error.hpp>
#include <librdkafka/rdkafka.h>

namespace gracedb::testing {
namespace {
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::map<std::string, std::string> read_env_file() {
    const char* env = std::getenv("GRACEDB_RIG_ENV");
    if (!env || !*env)
        throw std::runtime_error(
            "GRACEDB_RIG_ENV is not set: the chaos tests need the 3-node cluster of the test rig. Run them "
            "through ctest (its cluster_start fixture starts it), or start it with tests/rig/kafka-rig.sh "
            "cluster-start <dir> and export GRACEDB_RIG_ENV=<dir>/rig.env");
    std::ifstream in{env};
    if (!in) throw std::runtime_error(std::string{"the cluster's file "} + env + " is missing: did cluster_start fail?");
    std::map<std::string, std::string> kv;
    for (std::string line; std::getline(in, line);) {
        const auto eq = line.find('=');
        if (eq != std::string::npos && line[0] != '#') kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return kv;
}

// One long-lived plaintext client for metadata and admin requests (threads are not free on 2 cores).
RawClient& admin(const std::string& bootstrap) {
    static std::mutex m;
    static std::map<std::string, std::unique_ptr<RawClient>> clients;
    std::lock_guard lock{m};
    auto& c = clients[bootstrap];
    if (!c)
        c = std::make_unique<RawClient>(RD_KAFKA_PRODUCER,
                                        std::map<std::string, std::string>{{"bootstrap.servers", bootstrap},
                                                                           {"log_level", "0"},
                                                                           {"topic.metadata.refresh.interval.ms", "1000"},
                                                                           // A paused node takes requests and
                                                                           // never answers: drop it soon.
                                                                           {"socket.timeout.ms", "5000"}});
    return *c;
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char ch : s) out += ch == '\'' ? std::string{"'\\''"} : std::string(1, ch);
    return out + "'";
}

}  // namespace

const Cluster& Cluster::get() {
    static const Cluster cluster = [] {
        auto kv = read_env_file();
        auto nodes = kv.find("RIG_NODES");
        if (nodes == kv.end())
            throw std::runtime_error("$GRACEDB_RIG_ENV describes the single broker, not the cluster "
                                     "(no RIG_NODES): the chaos tests need kafka-rig.sh cluster-start");
        Cluster c;
        c.plain_bootstrap_ = kv.at("RIG_PLAIN_BOOTSTRAP");
        for (int n = 1; n <= std::stoi(nodes->second); ++n) c.plain_.push_back(kv.at("RIG_NODE" + std::to_string(n) + "_PLAIN"));
        return c;
    }();
    return cluster;
}

const std::string& Cluster::node_plain(int n) const { return plain_.at(static_cast<std::size_t>(n - 1)); }

void Cluster::script(const std::string& command, int n) const {
    if (n < 1 || n > nodes()) throw std::invalid_argument("Cluster: no node " + std::to_string(n));
    const Rig& r = rig();
    run_command(shell_quote(r.script) + " " + command + " " + shell_quote(r.dir) + " " + std::to_string(n) + " 2>&1");
}

void Cluster::kill(int n) const { script("kill-node", n); }
void Cluster::start(int n) const { script("start-node", n); }
void Cluster::pause(int n) const { script("pause-node", n); }
void Cluster::resume(int n) const { script("resume-node", n); }

void Cluster::heal() const {
    for (int n = 1; n <= nodes(); ++n) {
        try {
            resume(n);
        } catch (const std::exception&) {  // not running: started below
        }
        start(n);
    }
}

Healer::~Healer() {
    try {
        Cluster::get().heal();
    } catch (const std::exception& e) {
        std::cerr << "chaos: could not heal the cluster: " << e.what() << "\n";
    }
}

void Cluster::create_topic(const std::string& topic, int partitions_count) const {
    RawClient& a = admin(plain_bootstrap_);
    char err[256];
    detail::AdminOptions opts{rd_kafka_AdminOptions_new(a.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS)};
    rd_kafka_AdminOptions_set_operation_timeout(opts.get(), 30000, err, sizeof err);
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions_count, 3, err, sizeof err);
    if (!nt) throw std::runtime_error(err);
    detail::KafkaQueue q{rd_kafka_queue_new(a.get())};
    rd_kafka_CreateTopics(a.get(), &nt, 1, opts.get(), q.get());
    detail::KafkaEvent ev{rd_kafka_queue_poll(q.get(), 60000)};
    rd_kafka_NewTopic_destroy(nt);
    std::string failure;
    if (!ev) failure = "CreateTopics timed out";
    else if (rd_kafka_event_error(ev.get())) failure = rd_kafka_event_error_string(ev.get());
    else {
        size_t n = 0;
        const rd_kafka_topic_result_t** res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
        if (n == 1 && rd_kafka_topic_result_error(res[0])) failure = rd_kafka_topic_result_error_string(res[0]);
    }
    if (!failure.empty()) throw std::runtime_error("cannot create topic " + topic + ": " + failure);
    if (!wait_fully_in_sync(topic, 60s)) throw std::runtime_error("topic " + topic + " has no full ISR after 60 s");
    for (const auto& [p, st] : partitions(topic))
        if (st.replicas.size() != 3) throw std::runtime_error("topic " + topic + " is not replicated 3 times");
    // Every node must know the topic before a test uses it. A KRaft broker replays the metadata log on its own
    // time; librdkafka 2.0.2 gives a new topic a grace for metadata to propagate only while it has never seen it:
    // once seen, one metadata answer from a lagging broker ("no such topic") marks it non-existent at once,
    // fails what is queued for it (Local: Unknown topic) and refuses produce() (seen: a chaos test's producer
    // delivered 5 messages, then failed 26 and stopped). Asked of each node by a client that knows no other.
    for (int n = 1; n <= nodes(); ++n) {
        const auto deadline = Clock::now() + 30s;
        for (bool known = false; !known;) {
            if (Clock::now() > deadline)
                throw std::runtime_error("topic " + topic + ": node " + std::to_string(n) +
                                         " does not know it (or its leaders) 30 s after its creation");
            RawClient one{RD_KAFKA_PRODUCER, {{"bootstrap.servers", node_plain(n)}, {"log_level", "0"},
                                              {"socket.timeout.ms", "5000"}}};
            std::unique_ptr<rd_kafka_topic_t, void (*)(rd_kafka_topic_t*)> rkt{
                rd_kafka_topic_new(one.get(), topic.c_str(), nullptr), &rd_kafka_topic_destroy};
            const rd_kafka_metadata_t* raw = nullptr;
            if (rd_kafka_metadata(one.get(), 0, rkt.get(), &raw, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                detail::KafkaMetadata md{raw};
                // Node n's own answer (the client knows no other broker before its first answer).
                known = md->orig_broker_id == n && md->topic_cnt == 1 &&
                        md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                        md->topics[0].partition_cnt == partitions_count &&
                        std::all_of(md->topics[0].partitions, md->topics[0].partitions + partitions_count,
                                    [](const rd_kafka_metadata_partition_t& p) { return p.leader >= 0; });
            }
            if (!known) std::this_thread::sleep_for(100ms);
        }
    }
}

std::map<std::int32_t, PartitionState> Cluster::partitions(const std::string& topic,
                                                           std::chrono::milliseconds timeout) const {
    RawClient& a = admin(plain_bootstrap_);
    const auto deadline = Clock::now() + timeout;
    do {
        std::unique_ptr<rd_kafka_topic_t, void (*)(rd_kafka_topic_t*)> rkt{
            rd_kafka_topic_new(a.get(), topic.c_str(), nullptr), &rd_kafka_topic_destroy};
        const rd_kafka_metadata_t* raw = nullptr;
        // A short timeout per try: a paused node takes requests and never answers.
        if (rd_kafka_metadata(a.get(), 0, rkt.get(), &raw, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            detail::KafkaMetadata md{raw};
            if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].partition_cnt > 0) {
                std::map<std::int32_t, PartitionState> out;
                const auto& t = md->topics[0];
                for (int i = 0; i < t.partition_cnt; ++i) {
                    const auto& p = t.partitions[i];
                    PartitionState s;
                    s.leader = p.leader;
                    s.replicas.assign(p.replicas, p.replicas + p.replica_cnt);
                    s.isr.assign(p.isrs, p.isrs + p.isr_cnt);
                    out[p.id] = std::move(s);
                }
                return out;
            }
        }
        std::this_thread::sleep_for(200ms);
    } while (Clock::now() < deadline);
    return {};
}

bool Cluster::topic_exists(const std::string& topic) const {
    RawClient& a = admin(plain_bootstrap_);
    const auto deadline = Clock::now() + 30s;
    do {
        const rd_kafka_metadata_t* raw = nullptr;
        if (rd_kafka_metadata(a.get(), 1, nullptr, &raw, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            detail::KafkaMetadata md{raw};
            for (int i = 0; i < md->topic_cnt; ++i)
                if (topic == md->topics[i].topic) return true;
            return false;
        }
    } while (Clock::now() < deadline);
    throw std::runtime_error("topic_exists: no metadata from the cluster within 30 s");
}

std::int32_t Cluster::wait_leader(const std::string& topic, std::int32_t p, std::int32_t not_this,
                                  std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    do {
        auto parts = partitions(topic, 5s);
        auto it = parts.find(p);
        if (it != parts.end() && it->second.leader >= 1 && it->second.leader != not_this) return it->second.leader;
        std::this_thread::sleep_for(200ms);
    } while (Clock::now() < deadline);
    return -1;
}

bool Cluster::wait_fully_in_sync(const std::string& topic, std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    do {
        auto parts = partitions(topic, 5s);
        bool all = !parts.empty();
        for (const auto& [p, s] : parts)
            all = all && s.leader >= 1 && s.isr.size() == s.replicas.size() &&
                  std::set<std::int32_t>(s.isr.begin(), s.isr.end()) == std::set<std::int32_t>(s.replicas.begin(), s.replicas.end());
        if (all) return true;
        std::this_thread::sleep_for(300ms);
    } while (Clock::now() < deadline);
    return false;
}

std::int32_t Cluster::coordinator(const std::string& group) const {
    RawClient& a = admin(plain_bootstrap_);
    const char* groups[] = {group.c_str()};
    detail::KafkaQueue q{rd_kafka_queue_new(a.get())};
    rd_kafka_DescribeConsumerGroups(a.get(), groups, 1, nullptr, q.get());
    detail::KafkaEvent ev{rd_kafka_queue_poll(q.get(), 10000)};
    if (!ev || rd_kafka_event_error(ev.get())) return -1;
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t** d =
        rd_kafka_DescribeConsumerGroups_result_groups(rd_kafka_event_DescribeConsumerGroups_result(ev.get()), &n);
    if (n != 1 || rd_kafka_ConsumerGroupDescription_error(d[0])) return -1;
    const rd_kafka_Node_t* node = rd_kafka_ConsumerGroupDescription_coordinator(d[0]);
    return node ? rd_kafka_Node_id(node) : -1;
}

std::map<std::int32_t, std::int64_t> Cluster::committed(const std::string& group, const std::string& topic) const {
    const auto parts = partitions(topic, 30s);
    RawClient c{RD_KAFKA_CONSUMER, {{"bootstrap.servers", plain_bootstrap_},
                                    {"group.id", group},
                                    {"enable.auto.commit", "false"},
                                    {"log_level", "0"}}};
    detail::PartitionList list{rd_kafka_topic_partition_list_new(static_cast<int>(parts.size()))};
    for (const auto& [p, s] : parts) rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
    std::map<std::int32_t, std::int64_t> out;
    if (rd_kafka_committed(c.get(), list.get(), 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
    for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
    return out;
}

std::vector<RawMessage> Cluster::read_all(const std::string& topic, std::chrono::milliseconds timeout) const {
    const auto parts = partitions(topic, 30s);
    if (parts.empty()) throw std::runtime_error("read_all: no metadata for " + topic);
    RawClient c{RD_KAFKA_CONSUMER, {{"bootstrap.servers", plain_bootstrap_},
                                    {"group.id", unique_name("chaos-reader")},
                                    {"enable.auto.commit", "false"},
                                    {"enable.partition.eof", "false"},
                                    {"log_level", "0"}}};
    std::map<std::int32_t, std::int64_t> end;  // high watermark of each partition
    for (const auto& [p, s] : parts) {
        std::int64_t lo = 0, hi = 0;
        const auto deadline = Clock::now() + 30s;
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_query_watermark_offsets(c.get(), topic.c_str(), p, &lo, &hi, 5000)) &&
               Clock::now() < deadline)
            std::this_thread::sleep_for(500ms);
        if (err) throw std::runtime_error("read_all: no watermarks for " + topic + ": " + rd_kafka_err2str(err));
        end[p] = hi;
    }
    detail::PartitionList list{rd_kafka_topic_partition_list_new(static_cast<int>(parts.size()))};
    for (const auto& [p, hi] : end)
        if (hi > 0) rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    std::vector<RawMessage> out;
    if (list->cnt == 0) return out;
    if (auto err = rd_kafka_assign(c.get(), list.get()))
        throw std::runtime_error(std::string{"read_all: assign failed: "} + rd_kafka_err2str(err));
    std::map<std::int32_t, std::int64_t> next;  // next offset wanted, per partition
    auto done = [&] {
        for (const auto& [p, hi] : end)
            if (next[p] < hi) return false;
        return true;
    };
    const auto deadline = Clock::now() + timeout;
    while (!done()) {
        if (Clock::now() > deadline)
            throw std::runtime_error("read_all: could not read " + topic + " to its end within the timeout");
        detail::KafkaMessage m{rd_kafka_consumer_poll(c.get(), 200)};
        if (!m || m->err) continue;
        RawMessage r;
        r.topic = topic;
        r.partition = m->partition;
        r.offset = m->offset;
        if (m->key) r.key = std::string(static_cast<const char*>(m->key), m->key_len);
        if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
        next[r.partition] = r.offset + 1;
        if (r.offset < end[r.partition]) out.push_back(std::move(r));
    }
    return out;
}

int chaos_scale() {
    const char* s = std::getenv("GRACEDB_CHAOS_SCALE");
    if (!s || !*s) return 1;
    const int v = std::atoi(s);
    if (v < 1) throw std::invalid_argument("GRACEDB_CHAOS_SCALE must be a positive integer, got \"" + std::string{s} + "\"");
    return v;
}

void chaos_log(const std::string& line) {
    static const auto start = Clock::now();
    static std::mutex m;
    std::lock_guard lock{m};
    const double t = std::chrono::duration<double>(Clock::now() - start).count();
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "[chaos %7.1f s] ", t);
    std::cout << prefix << line << std::endl;
}

bool is_known_librdkafka_idempotence_bug(const std::exception& e) {
    const auto* error = dynamic_cast<const gracedb::Error*>(&e);
    return error && error->fatal() && error->rdkafka_error() == "OUT_OF_ORDER_SEQUENCE_NUMBER" &&
           rd_kafka_version() < 0x020300ff;
}

void log_known_librdkafka_idempotence_bug(const std::string& where, const std::exception& e) {
    chaos_log(std::string{"!!! KNOWN LIBRDKAFKA BUG ("} + rd_kafka_version_str() +
              " < 2.3.0, librdkafka issue #3584, fixed by PR #4438) in " + where +
              ": the idempotent producer went fatal after a leader failover; every message it held was reported "
              "failed; rebuilding the producer as the error tells applications to. Error: " + e.what());
}

}  // namespace gracedb::testing
