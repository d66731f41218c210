// Test support for the chaos tests: the 3-node replicated Kafka cluster of the rig (kafka-rig.sh cluster-start),
// its faults (SIGKILL, restart, SIGSTOP/SIGCONT of one node), its partition leaders and ISRs (metadata on the
// plaintext listeners), and an independent raw-librdkafka read of a whole topic. Test-only.
//
// The cluster's rig.env has the keys of the single broker's, so Rig::get(), TokenEnv and Rig::token() work
// unchanged when $GRACEDB_RIG_ENV points at it; Cluster::get() additionally needs its RIG_NODE* keys.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "rawkafka.hpp"
#include "testrig.hpp"

namespace gracedb::testing {

/// One partition as the cluster's metadata describes it. Broker ids are the node numbers 1..3.
struct PartitionState {
    std::int32_t leader = -1;  // -1: no leader
    std::vector<std::int32_t> replicas;
    std::vector<std::int32_t> isr;
};

class Cluster {
public:
    /// The cluster of $GRACEDB_RIG_ENV; throws std::runtime_error, saying how to start it, when that file is
    /// absent or describes the single broker.
    static const Cluster& get();

    const Rig& rig() const { return Rig::get(); }
    int nodes() const { return static_cast<int>(plain_.size()); }
    /// "127.0.0.1:port" of node `n`'s plaintext listener.
    const std::string& node_plain(int n) const;

    /// SIGKILL node `n`; returns once the process is gone.
    void kill(int n) const;
    /// Starts node `n` again on its ports and data; returns once it answers a metadata request.
    void start(int n) const;
    /// SIGSTOP / SIGCONT node `n`.
    void pause(int n) const;
    void resume(int n) const;
    /// Resumes every paused node and starts every node that is down (a no-op on a healthy cluster): chaos tests
    /// call it at their start and, through a Healer, at their end, also when an assertion ended them early.
    void heal() const;

    /// Creates `topic` with `partitions` partitions, replication factor 3 (min.insync.replicas 2 from the
    /// brokers), and waits until every partition has a leader.
    void create_topic(const std::string& topic, int partitions) const;
    /// Whether `topic` exists (a metadata request for all topics, which never creates one).
    bool topic_exists(const std::string& topic) const;
    /// The partitions of `topic` (empty when the metadata cannot be had within `timeout`).
    std::map<std::int32_t, PartitionState> partitions(const std::string& topic,
                                                      std::chrono::milliseconds timeout = std::chrono::seconds{10}) const;
    /// Waits until partition `p` of `topic` has a leader that is not `not_this` (e.g. the node just killed);
    /// the leader, or -1 at the deadline.
    std::int32_t wait_leader(const std::string& topic, std::int32_t p, std::int32_t not_this,
                             std::chrono::milliseconds timeout) const;
    /// Waits until every partition of `topic` has all its replicas in sync (after a restart); false at the
    /// deadline.
    bool wait_fully_in_sync(const std::string& topic, std::chrono::milliseconds timeout) const;
    /// The node that coordinates consumer group `group` (-1 if unknown).
    std::int32_t coordinator(const std::string& group) const;

    /// The offsets consumer group `group` has committed for the partitions of `topic` (-1001: none), read
    /// without joining the group.
    std::map<std::int32_t, std::int64_t> committed(const std::string& group, const std::string& topic) const;

    /// Reads every message of every partition of `topic` from the beginning up to its high watermark, on the
    /// plaintext listeners with raw librdkafka (independent of the library under test). Throws when it cannot
    /// reach the end within `timeout`.
    std::vector<RawMessage> read_all(const std::string& topic,
                                     std::chrono::milliseconds timeout = std::chrono::seconds{120}) const;

private:
    void script(const std::string& command, int n) const;
    std::string plain_bootstrap_;
    std::vector<std::string> plain_;  // index n-1
};

/// Heals the cluster when it goes out of scope.
struct Healer {
    ~Healer();
};

/// The scale of the chaos tests: $GRACEDB_CHAOS_SCALE (a positive integer, default 1).
int chaos_scale();

/// Prints a line to standard output at once, prefixed with seconds since the first call (for the test log).
void chaos_log(const std::string& line);

/// True for the one fatal error the chaos tests tolerate: librdkafka before 2.3.0 turns a leader failover into
/// a fatal OUT_OF_ORDER_SEQUENCE_NUMBER of the idempotent producer now and then ("rewound sequence number" /
/// "sequence desynchronization"; librdkafka issue #3584, fixed by PR #4438 in 2.3.0; Debian 12 ships 2.0.2).
/// The library reports it as a fatal gracedb::Error and fails every message it still held; the application
/// must destroy the producer and make a new one, which is what the tests then do (loudly).
bool is_known_librdkafka_idempotence_bug(const std::exception& e);

/// A loud line for the test log when that bug was met: what happened, and that the producer is rebuilt.
void log_known_librdkafka_idempotence_bug(const std::string& where, const std::exception& e);

}  // namespace gracedb::testing
