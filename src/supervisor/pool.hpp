// Private to the supervisor: the threads that do its slow work off the polling thread.
//   UploadPool: a fixed number of workers, each with its own GraceDB connection, uploading jobs in the order
//               they were submitted; results are collected for the polling thread.
//   Committer:  one thread that commits batches of offsets (synchronous commits, off the polling thread),
//               skipping partitions this consumer no longer owns.
#pragma once

#include <gracedb/kafka/consumer.hpp>
#include <gracedb/rest/client.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "supervisor/job.hpp"

namespace gracedb::supervisor_detail {


class UploadPool {
public:
    /// `first` is a client already built (so that bad options fail the supervisor's constructor); the other
    /// workers build theirs from `url` and `options` at their first job.
    UploadPool(std::size_t workers, std::unique_ptr<GraceDb> first, std::string url, GraceDbOptions options);
    ~UploadPool();
    UploadPool(const UploadPool&) = delete;
    UploadPool& operator=(const UploadPool&) = delete;

    void submit(JobPtr job);
    /// Finished jobs with their outcome (moves them out).
    std::vector<std::pair<JobPtr, AttemptResult>> take_results();
    /// Waits until a result is ready, at most `timeout`.
    void wait_for_result(std::chrono::milliseconds timeout);
    /// Called by a worker (outside any lock) each time a result is ready: lets the polling thread wake from
    /// a blocking poll at once rather than at its timeout.
    void on_result(std::function<void()> wake);
    /// Jobs submitted and not yet taken back with take_results().
    std::size_t outstanding() const;
    /// Stops taking jobs (queued ones are dropped) and joins the workers once their current upload ends.
    void stop();

private:
    void work(std::size_t index);

    std::string url_;
    GraceDbOptions options_;
    std::vector<std::unique_ptr<GraceDb>> clients_;
    mutable std::mutex mutex_;
    std::condition_variable work_cv_, result_cv_;
    std::deque<JobPtr> queue_;
    std::vector<std::pair<JobPtr, AttemptResult>> results_;
    std::size_t outstanding_ = 0;
    bool stopping_ = false;
    std::function<void()> wake_;
    std::vector<std::thread> threads_;
};

/// One offset to commit: the partition, the tracker epoch it was computed under, the commit point.
struct CommitEntry {
    kafka::TopicPartition tp;
    std::uint64_t epoch = 0;
    std::int64_t offset = -1;  // the next offset to consume
    std::optional<std::string> error{};  // set in a result when the commit failed
    bool skipped = false;                // set in a result when the partition was no longer owned
};

class Committer {
public:
    explicit Committer(kafka::Consumer& consumer);
    ~Committer();
    Committer(const Committer&) = delete;
    Committer& operator=(const Committer&) = delete;

    /// False (and nothing done) while the previous batch is still being committed.
    bool submit(std::vector<CommitEntry> batch);
    bool busy() const;
    /// How long the batch in hand has been running (zero when idle).
    std::chrono::steady_clock::duration running_for() const;
    /// Waits until idle, at most `timeout`; true if idle.
    bool wait_idle(std::chrono::milliseconds timeout);
    std::vector<CommitEntry> take_results();
    void stop();

private:
    void run();

    kafka::Consumer& consumer_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::optional<std::vector<CommitEntry>> batch_;
    std::vector<CommitEntry> results_;
    std::chrono::steady_clock::time_point started_{};
    bool busy_ = false;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace gracedb::supervisor_detail
