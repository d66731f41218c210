#include "supervisor/partitions.hpp"

#include <gracedb/kafka/errors.hpp>
#include <gracedb/log.hpp>

namespace gracedb::supervisor_detail {

using kafka::TopicPartition;

Partitions::Partitions(kafka::Consumer& consumer, std::function<void(const kafka::KafkaError&, const char*)> on_error)
    : consumer_{consumer}, on_error_{std::move(on_error)} {}

std::vector<TopicPartition> Partitions::sync() {
    const auto list = consumer_.assigned_partitions();
    std::set<TopicPartition> now(list.begin(), list.end());
    if (now == owned_) return {};
    std::vector<TopicPartition> revoked;
    for (auto it = trackers_.begin(); it != trackers_.end();) {
        if (now.count(it->first)) {
            ++it;
            continue;
        }
        log(LogLevel::info, "supervisor: " + it->first.to_string() + " revoked with " +
                                std::to_string(it->second.pending()) + " message(s) not done: state dropped");
        revoked.push_back(it->first);
        it = trackers_.erase(it);
    }
    for (const auto& tp : owned_)
        if (!now.count(tp)) {
            // librdkafka keeps the pause of a revoked partition: remembered until it is assigned back.
            if (paused_.erase(tp)) paused_away_.insert(tp);
            if (!trackers_.count(tp)) revoked.push_back(tp);
        }
    std::vector<TopicPartition> added;
    for (const auto& tp : now)
        if (!owned_.count(tp)) added.push_back(tp);
    owned_ = std::move(now);
    // librdkafka keeps a pause across revocation and re-assignment: a new partition is paused if that is
    // wanted, and resumed only if this supervisor paused it before (a resume of a partition never paused
    // restarts its fetch, which delivers again what was already fetched: see admit()).
    for (const auto& tp : added) {
        if (want_paused_) pause(tp);
        else if (paused_away_.count(tp)) resume(tp);
    }
    return revoked;
}

std::uint64_t Partitions::admit(const TopicPartition& tp, std::int64_t offset, bool done_already, bool& duplicate) {
    duplicate = false;
    auto it = trackers_.find(tp);
    if (it == trackers_.end()) it = trackers_.emplace(tp, PartitionTracker{next_epoch_++}).first;
    if (!it->second.admit(offset, done_already)) {
        // Delivered again from an earlier offset while the partition stayed ours (a revocation is seen by
        // sync() and drops the tracker first): librdkafka 2.0.2 fetches a partition again from its committed
        // offset when it is resumed just after its assignment, and an offset reset rewinds it too. Every
        // offset before the tracker's next one was admitted by it (still held, or done): not processed twice
        // (a second dead letter, a second upload attempt).
        log(LogLevel::debug, "supervisor: " + tp.to_string() + "@" + std::to_string(offset) +
                                 " delivered again: already admitted, ignored");
        duplicate = true;
        return it->second.epoch();
    }
    if (want_paused_ && !paused_.count(tp)) pause(tp);
    return it->second.epoch();
}

PartitionTracker* Partitions::tracker(const TopicPartition& tp, std::uint64_t epoch) {
    auto it = trackers_.find(tp);
    return it != trackers_.end() && it->second.epoch() == epoch ? &it->second : nullptr;
}

void Partitions::done(const Job& job) {
    if (auto* t = tracker(job.tp, job.epoch)) t->done(job.offset);
}

std::size_t Partitions::pending() const {
    std::size_t n = 0;
    for (const auto& [tp, t] : trackers_) n += t.pending();
    return n;
}

void Partitions::want_paused(bool paused) {
    want_paused_ = paused;
    if (paused) {
        for (const auto& tp : owned_)
            if (!paused_.count(tp)) pause(tp);
    } else {
        for (auto tp : std::set<TopicPartition>{paused_}) resume(tp);
    }
}

void Partitions::pause(const TopicPartition& tp) {
    try {
        consumer_.pause(tp);
        paused_.insert(tp);
        paused_away_.erase(tp);
    } catch (const kafka::KafkaError& e) {
        on_error_(e, "pause");
    }
}

void Partitions::resume(const TopicPartition& tp) {
    try {
        consumer_.resume(tp);
        paused_.erase(tp);
        paused_away_.erase(tp);
    } catch (const kafka::KafkaError& e) {
        on_error_(e, "resume");
    }
}

std::vector<CommitEntry> Partitions::commit_batch() {
    std::vector<CommitEntry> batch;
    for (auto& [tp, t] : trackers_) {
        if (!t.needs_commit() || !owned_.count(tp)) continue;
        const auto point = *t.commit_point();
        t.committing(point);
        batch.push_back({tp, t.epoch(), point});
    }
    return batch;
}

bool Partitions::commit_wanted() const {
    for (const auto& [tp, t] : trackers_)
        if (t.needs_commit()) return true;
    return false;
}

bool Partitions::commit_result(const CommitEntry& r) {
    auto* t = tracker(r.tp, r.epoch);
    if (r.error) {
        if (t) t->commit_failed(r.offset);
        return false;
    }
    if (t && !r.skipped) t->commit_confirmed(r.offset);
    return true;
}

}  // namespace gracedb::supervisor_detail
