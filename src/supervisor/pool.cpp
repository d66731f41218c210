#include "supervisor/pool.hpp"

#include <gracedb/kafka/errors.hpp>
#include <gracedb/log.hpp>

#include <algorithm>

namespace gracedb::supervisor_detail {

// --- UploadPool ----------------------------------------------------------------------------------------------

UploadPool::UploadPool(std::size_t workers, std::unique_ptr<GraceDb> first, std::string url, GraceDbOptions options)
    : url_{std::move(url)}, options_{std::move(options)} {
    workers = std::max<std::size_t>(workers, 1);
    clients_.resize(workers);
    clients_[0] = std::move(first);
    threads_.reserve(workers);
    for (std::size_t i = 0; i < workers; ++i) threads_.emplace_back([this, i] { work(i); });
}

UploadPool::~UploadPool() { stop(); }

void UploadPool::submit(JobPtr job) {
    {
        std::lock_guard lock{mutex_};
        if (stopping_) return;
        queue_.push_back(std::move(job));
        ++outstanding_;
    }
    work_cv_.notify_one();
}

std::vector<std::pair<JobPtr, AttemptResult>> UploadPool::take_results() {
    std::lock_guard lock{mutex_};
    outstanding_ -= results_.size();
    return std::exchange(results_, {});
}

void UploadPool::wait_for_result(std::chrono::milliseconds timeout) {
    std::unique_lock lock{mutex_};
    result_cv_.wait_for(lock, timeout, [this] { return !results_.empty() || stopping_; });
}

void UploadPool::on_result(std::function<void()> wake) {
    std::lock_guard lock{mutex_};
    wake_ = std::move(wake);
}

std::size_t UploadPool::outstanding() const {
    std::lock_guard lock{mutex_};
    return outstanding_;
}

void UploadPool::stop() {
    {
        std::lock_guard lock{mutex_};
        if (stopping_ && threads_.empty()) return;
        stopping_ = true;
        outstanding_ -= queue_.size();
        queue_.clear();
    }
    work_cv_.notify_all();
    result_cv_.notify_all();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

void UploadPool::work(std::size_t index) {
    for (;;) {
        JobPtr job;
        {
            std::unique_lock lock{mutex_};
            work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        AttemptResult result;
        const auto started = std::chrono::steady_clock::now();
        try {
            if (!clients_[index]) clients_[index] = std::make_unique<GraceDb>(url_, options_);
            GraceDb& client = *clients_[index];
            result = attempt_upload(*job->upload, [&client](const Upload& u) {
                return client.upload_reserved_event(u.graceid, u.group, u.pipeline, u.filename, u.options);
            });
        } catch (const std::exception& e) {  // the client could not be built (a token gone): may heal
            result = {AttemptResult::Kind::transient, std::string{"GraceDB client: "} + e.what()};
        }
        result.finished = std::chrono::system_clock::now();
        result.took = std::chrono::steady_clock::now() - started;
        std::function<void()> wake;
        {
            std::lock_guard lock{mutex_};
            result.answered = std::chrono::steady_clock::now();  // under the lock: results_ in answer order
            results_.emplace_back(std::move(job), std::move(result));
            wake = wake_;
        }
        result_cv_.notify_all();
        if (wake) wake();
    }
}

// --- Committer -----------------------------------------------------------------------------------------------

Committer::Committer(kafka::Consumer& consumer) : consumer_{consumer}, thread_{[this] { run(); }} {}

Committer::~Committer() { stop(); }

bool Committer::submit(std::vector<CommitEntry> batch) {
    {
        std::lock_guard lock{mutex_};
        if (busy_ || stopping_) return false;
        batch_ = std::move(batch);
        busy_ = true;
        started_ = std::chrono::steady_clock::now();
    }
    cv_.notify_all();
    return true;
}

bool Committer::busy() const {
    std::lock_guard lock{mutex_};
    return busy_;
}

std::chrono::steady_clock::duration Committer::running_for() const {
    std::lock_guard lock{mutex_};
    return busy_ ? std::chrono::steady_clock::now() - started_ : std::chrono::steady_clock::duration::zero();
}

bool Committer::wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock{mutex_};
    return cv_.wait_for(lock, timeout, [this] { return !busy_; });
}

std::vector<CommitEntry> Committer::take_results() {
    std::lock_guard lock{mutex_};
    return std::exchange(results_, {});
}

void Committer::stop() {
    {
        std::lock_guard lock{mutex_};
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Committer::run() {
    for (;;) {
        std::vector<CommitEntry> batch;
        {
            std::unique_lock lock{mutex_};
            cv_.wait(lock, [this] { return stopping_ || batch_.has_value(); });
            if (!batch_) return;  // stopping with nothing to do
            batch = std::move(*batch_);
            batch_.reset();
        }
        for (auto& e : batch) {
            try {
                // Never commit for a partition this consumer no longer owns: its new owner's position wins.
                const auto owned = consumer_.assigned_partitions();
                if (std::find(owned.begin(), owned.end(), e.tp) == owned.end()) {
                    e.skipped = true;
                    continue;
                }
                consumer_.commit(e.tp, e.offset);
            } catch (const std::exception& ex) {
                e.error = ex.what();
            }
        }
        {
            std::lock_guard lock{mutex_};
            results_.insert(results_.end(), std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end()));
            busy_ = false;
        }
        cv_.notify_all();
    }
}

}  // namespace gracedb::supervisor_detail
