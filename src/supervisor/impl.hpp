// Private to the supervisor: Supervisor::Impl, its parts and the polling thread's state (everything runs on
// the thread of run()/step(), or of the destructor for the final drain). Its functions: the loop in
// supervisor.cpp, admission.cpp, outcomes.cpp (what an attempt's outcome leads to), drain.cpp.
#pragma once

#include <gracedb/kafka/consumer.hpp>
#include <gracedb/supervisor.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "common/deadline.hpp"
#include "supervisor/commits.hpp"
#include "supervisor/dead_letters.hpp"
#include "supervisor/flow_control.hpp"
#include "supervisor/health.hpp"
#include "supervisor/heartbeat.hpp"
#include "supervisor/metrics.hpp"
#include "supervisor/partitions.hpp"
#include "supervisor/pool.hpp"
#include "supervisor/retries.hpp"
#include "supervisor/stats_book.hpp"

namespace gracedb {

struct GRACEDB_SUPERVISOR_NO_EXPORT Supervisor::Impl {
    explicit Impl(SupervisorOptions o);
    ~Impl();

    // The loop (supervisor.cpp).
    void step();
    void publish_gauges();
    void consumer_error(const kafka::KafkaError& e, const char* call);
    // Admission (admission.cpp).
    void admit(kafka::Message m);
    void drop_waiting(const kafka::TopicPartition& tp);
    // Outcomes (outcomes.cpp).
    void handle_results();
    void retry_later(const supervisor_detail::JobPtr& job, const std::string& detail);
    void start_due_retries();
    void dead_letter(const supervisor_detail::JobPtr& job, const std::string& reason);
    void serve_dead_letters();
    bool never_reserved(supervisor_detail::Job& job, supervisor_detail::Clock::time_point answered);
    void done(const supervisor_detail::Job& job) { partitions->done(job); }
    bool ours(const supervisor_detail::Job& job) { return partitions->tracker(job.tp, job.epoch) != nullptr; }
    // Stopping (drain.cpp).
    void drain();

    SupervisorOptions options;
    std::string instance;
    std::string rest_url;
    std::unique_ptr<kafka::Consumer> consumer;
    std::atomic<bool> stopping{false};

    // Poll-thread state.
    std::unique_ptr<supervisor_detail::Partitions> partitions;
    supervisor_detail::Health health;
    supervisor_detail::Retries retries;
    supervisor_detail::FlowControl flow;
    detail::Deadline consumer_retry = detail::Deadline::at({});  // backing off after a consumer error
    std::chrono::milliseconds consumer_backoff{0};
    detail::Deadline blocked_reminder = detail::Deadline::at({});
    detail::Deadline next_lag_check = detail::Deadline::at({});
    bool consuming = false;  // the last poll succeeded
    bool drained = false;
    supervisor_detail::StatsBook stats;
    std::unique_ptr<supervisor_detail::Heartbeat> heartbeat;  // none when heartbeat_interval is 0

    // Declared last: destroyed first (their threads use the members above).
    std::unique_ptr<supervisor_detail::DeadLetters> dead_letters;
    std::unique_ptr<supervisor_detail::UploadPool> pool;
    std::unique_ptr<supervisor_detail::Commits> commits;
    // First destroyed: its threads read the stats.
    std::unique_ptr<supervisor_detail::MetricsServer> metrics_server;
};

}  // namespace gracedb
