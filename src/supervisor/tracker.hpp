// Private to the supervisor: the offsets of one partition that are not done yet, and so what may be committed.
// Messages are admitted in offset order; each is done later, in any order. The commit point (the offset the
// next consumer starts from) is the lowest offset not done, or one past the last admitted when all are done.
// Memory is one entry per message not done (offsets done while an earlier one is not are implicit).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>

namespace gracedb::supervisor_detail {

class PartitionTracker {
public:
    /// Identifies this tracker among all trackers of a supervisor: work started under a tracker that was
    /// dropped (its partition revoked) carries an old epoch and is never counted.
    explicit PartitionTracker(std::uint64_t epoch) : epoch_{epoch} {}

    std::uint64_t epoch() const { return epoch_; }

    /// Admits `offset`; false when it is not after the last admitted (the partition was rewound: start over).
    bool admit(std::int64_t offset, bool done_already) {
        if (next_ >= 0 && offset < next_) return false;
        next_ = offset + 1;
        if (!done_already) pending_.insert(offset);
        return true;
    }

    /// Marks an admitted offset done (idempotent).
    void done(std::int64_t offset) { pending_.erase(offset); }

    bool is_pending(std::int64_t offset) const { return pending_.count(offset) != 0; }
    std::size_t pending() const { return pending_.size(); }

    /// The offset to commit (every message before it is done), or nothing before the first admission.
    std::optional<std::int64_t> commit_point() const {
        if (next_ < 0) return std::nullopt;
        return pending_.empty() ? next_ : *pending_.begin();
    }

    /// True when the commit point is past what was last committed (or handed to the committer).
    bool needs_commit() const {
        const auto p = commit_point();
        return p && *p > committed_;
    }
    void committing(std::int64_t offset) { committed_ = std::max(committed_, offset); }
    /// A commit that failed: it will be tried again.
    void commit_failed(std::int64_t offset) {
        if (committed_ == offset) committed_ = confirmed_;
    }
    void commit_confirmed(std::int64_t offset) { confirmed_ = std::max(confirmed_, offset); }
    std::int64_t confirmed() const { return confirmed_; }

private:
    std::uint64_t epoch_;
    std::set<std::int64_t> pending_;
    std::int64_t next_ = -1;       // one past the last admitted offset
    std::int64_t committed_ = -1;  // the last commit point handed to the committer
    std::int64_t confirmed_ = -1;  // the last commit point the broker confirmed
};

}  // namespace gracedb::supervisor_detail
