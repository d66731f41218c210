// Private to the supervisor: the jobs waiting for their next attempt. Each waits its own back-off, doubling
// from the first to the longest, with +-20% jitter (so that events failed together are not retried together).
#pragma once

#include <gracedb/kafka/topic_partition.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <random>
#include <vector>

#include "supervisor/job.hpp"

namespace gracedb::supervisor_detail {

class Retries {
public:
    Retries(std::chrono::milliseconds initial, std::chrono::milliseconds longest);

    /// Doubles the job's back-off (the first: `initial`; at most `longest`) and holds it until then.
    void schedule(const JobPtr& job);
    /// The jobs whose time has come (taken out).
    std::vector<JobPtr> take_due();
    /// The jobs of a partition (taken out: it was revoked).
    std::vector<JobPtr> take(const kafka::TopicPartition& tp);
    /// When the next one falls due; nothing when none waits.
    std::optional<Clock::time_point> next_due() const;

    std::size_t size() const { return waiting_.size(); }
    /// Jobs waiting for the verdict of the 404 rule (a 404 that may still turn out to be the event's own).
    std::size_t judged_later() const;

private:
    std::chrono::milliseconds initial_, longest_;
    std::vector<JobPtr> waiting_;
    std::minstd_rand jitter_{std::random_device{}()};
};

}  // namespace gracedb::supervisor_detail
