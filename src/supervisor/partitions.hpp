// Private to the supervisor: the partitions it owns and what it holds of each. Follows rebalances (the state of
// a revoked partition is dropped), pauses and resumes fetching as a whole (flow control), and decides what may
// be committed. Everything here runs on the polling thread.
//
// Pausing survives rebalances: librdkafka keeps an application's pause on a partition that is revoked and
// assigned back, so a newly assigned partition is paused when that is wanted now, and resumed when this
// supervisor had paused it before its revocation (a partition forgotten as "paused" while librdkafka still
// held it paused stopped the supervisor). One never paused is left alone: a resume restarts its fetch.
#pragma once

#include <gracedb/kafka/consumer.hpp>
#include <gracedb/kafka/errors.hpp>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "supervisor/pool.hpp"
#include "supervisor/tracker.hpp"

namespace gracedb::supervisor_detail {

class Partitions {
public:
    /// `on_error` is told of a pause or resume librdkafka refused (what was called, and the error).
    Partitions(kafka::Consumer& consumer, std::function<void(const kafka::KafkaError&, const char*)> on_error);

    /// Brings the owned set up to date with the consumer's assignment; returns the partitions revoked since the
    /// last call (their trackers are dropped: the caller drops its jobs waiting for them).
    std::vector<kafka::TopicPartition> sync();

    /// Admits a message at `offset`; returns the tracker epoch it belongs to. `duplicate` is set (and nothing
    /// admitted) when the offset is before the tracker's next one: delivered again while the partition stayed
    /// ours, so already held or done.
    std::uint64_t admit(const kafka::TopicPartition& tp, std::int64_t offset, bool done_already, bool& duplicate);

    /// The tracker that admitted a job of `epoch`, if that incarnation of the partition is still ours.
    PartitionTracker* tracker(const kafka::TopicPartition& tp, std::uint64_t epoch);
    void done(const Job& job);

    /// Messages held (admitted, not done) over all partitions.
    std::size_t pending() const;

    /// Pauses (or resumes) fetching from every owned partition, now and after later rebalances.
    void want_paused(bool paused);
    bool paused() const { return want_paused_; }
    std::size_t paused_count() const { return paused_.size(); }
    /// Owned partitions (as of the last sync()).
    const std::set<kafka::TopicPartition>& owned() const { return owned_; }

    /// Commits: the entries that moved since the last batch (marked as being committed).
    std::vector<CommitEntry> commit_batch();
    bool commit_wanted() const;
    /// A committer's result; false when it failed (it will be tried again).
    bool commit_result(const CommitEntry& entry);

private:
    void pause(const kafka::TopicPartition& tp);
    void resume(const kafka::TopicPartition& tp);

    kafka::Consumer& consumer_;
    std::function<void(const kafka::KafkaError&, const char*)> on_error_;
    std::map<kafka::TopicPartition, PartitionTracker> trackers_;
    std::set<kafka::TopicPartition> owned_;
    std::set<kafka::TopicPartition> paused_;       // owned partitions this supervisor paused
    std::set<kafka::TopicPartition> paused_away_;  // revoked while paused by it (librdkafka keeps the pause)
    bool want_paused_ = false;
    std::uint64_t next_epoch_ = 1;
};

}  // namespace gracedb::supervisor_detail
