// The jobs waiting for their next attempt, each with its own back-off and jitter (retries.hpp).
#include "supervisor/retries.hpp"

#include <algorithm>

namespace gracedb::supervisor_detail {

Retries::Retries(std::chrono::milliseconds initial, std::chrono::milliseconds longest)
    : initial_{initial}, longest_{longest} {}

void Retries::schedule(const JobPtr& job) {
    job->backoff = job->backoff.count() == 0 ? initial_ : std::min(job->backoff * 2, longest_);
    const double factor = std::uniform_real_distribution<double>{0.8, 1.2}(jitter_);
    job->due = Clock::now() + std::chrono::duration_cast<Clock::duration>(job->backoff * factor);
    waiting_.push_back(job);
}

std::vector<JobPtr> Retries::take_due() {
    std::vector<JobPtr> due;
    if (waiting_.empty()) return due;
    const auto now = Clock::now();
    std::erase_if(waiting_, [&](const JobPtr& j) {
        if (j->due > now) return false;
        due.push_back(j);
        return true;
    });
    return due;
}

std::vector<JobPtr> Retries::take(const kafka::TopicPartition& tp) {
    std::vector<JobPtr> out;
    std::erase_if(waiting_, [&](const JobPtr& j) {
        if (j->tp != tp) return false;
        out.push_back(j);
        return true;
    });
    return out;
}

std::optional<Clock::time_point> Retries::next_due() const {
    if (waiting_.empty()) return std::nullopt;
    return (*std::min_element(waiting_.begin(), waiting_.end(),
                              [](const JobPtr& a, const JobPtr& b) { return a->due < b->due; }))
        ->due;
}

std::size_t Retries::judged_later() const {
    std::size_t n = 0;
    for (const auto& j : waiting_) n += j->not_found_since ? 1 : 0;
    return n;
}

}  // namespace gracedb::supervisor_detail
