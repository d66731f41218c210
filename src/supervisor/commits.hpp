// Private to the supervisor: when offsets are committed. Every commit_interval (or at once when forced) what
// moved since the last commit goes to the committer thread (pool.hpp); its results go back to the partitions
// (a failed commit is tried again) and to the figures. A commit that hangs is said once, and uploads go on.
#pragma once

#include <chrono>

#include "common/deadline.hpp"
#include "supervisor/partitions.hpp"
#include "supervisor/pool.hpp"
#include "supervisor/stats_book.hpp"

namespace gracedb::supervisor_detail {

class Commits {
public:
    Commits(kafka::Consumer& consumer, Partitions& partitions, StatsBook& stats,
            std::chrono::milliseconds interval, std::chrono::milliseconds timeout);

    /// Takes the committer's results.
    void collect();
    /// Hands what moved to the committer when commit_interval has passed (or now, with `force`), unless a
    /// commit is still running.
    void schedule(bool force);
    /// When the next commit is due.
    const detail::Deadline& next() const { return next_; }
    /// Waits until no commit runs, at most `timeout`; true if none runs.
    bool wait_idle(std::chrono::milliseconds timeout) { return committer_.wait_idle(timeout); }
    void stop() { committer_.stop(); }

private:
    Partitions& partitions_;
    StatsBook& stats_;
    std::chrono::milliseconds interval_, timeout_;
    detail::Deadline next_ = detail::Deadline::at({});
    bool overdue_reported_ = false;
    Committer committer_;  // last: its thread runs until it is destroyed first
};

}  // namespace gracedb::supervisor_detail
