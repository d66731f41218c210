// When offsets are committed, and what their results change (commits.hpp).
#include "supervisor/commits.hpp"

#include <gracedb/log.hpp>

#include <string>

namespace gracedb::supervisor_detail {

Commits::Commits(kafka::Consumer& consumer, Partitions& partitions, StatsBook& stats,
                 std::chrono::milliseconds interval, std::chrono::milliseconds timeout)
    : partitions_{partitions}, stats_{stats}, interval_{interval}, timeout_{timeout}, committer_{consumer} {}

void Commits::collect() {
    for (auto& r : committer_.take_results()) {
        const bool ok = partitions_.commit_result(r);
        if (!ok)
            log(LogLevel::warning, "supervisor: commit of " + r.tp.to_string() + " at " +
                                       std::to_string(r.offset) + " failed (tried again): " + *r.error);
        if (!r.skipped) stats_.commit(ok);
    }
}

void Commits::schedule(bool force) {
    if (committer_.busy()) {
        const auto running = committer_.running_for();
        if (running > timeout_ && !overdue_reported_) {
            overdue_reported_ = true;
            log(LogLevel::warning,
                "supervisor: a commit has been running for " +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(running).count()) +
                    " s (group coordinator unreachable?); uploads go on, commits wait");
        }
        return;
    }
    overdue_reported_ = false;
    if (!force && !next_.expired()) return;
    next_ = detail::Deadline::at(detail::Deadline::Clock::now() + interval_);
    auto batch = partitions_.commit_batch();
    if (!batch.empty()) committer_.submit(std::move(batch));
}

}  // namespace gracedb::supervisor_detail
