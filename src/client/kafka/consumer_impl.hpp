// Private: the consumer's state, shared by consumer.cpp (construction, group id, subscribe, accessors),
// consumer_poll.cpp (poll, messages, poll errors, the stream), consumer_rebalance.cpp (the rebalance
// callback, assignment, pause/resume), consumer_commit.cpp (every commit) and consumer_close.cpp.
#pragma once

#include <gracedb/kafka/consumer.hpp>
#include <gracedb/kafka/errors.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/deadline.hpp"
#include "client/kafka/client.hpp"
#include "client/kafka/consumer_replay.hpp"

namespace gracedb::kafka {

namespace detail_consumer {

using namespace std::chrono_literals;

/// The longest wait between two calls of ConsumerOptions::interrupt.
inline constexpr std::chrono::milliseconds kSlice = 100ms;

/// A blocking call's deadline: `timeout` from now (a negative one: no wait, as zero).
inline detail::Deadline within(std::chrono::milliseconds timeout) {
    return detail::Deadline::after(std::max(timeout, std::chrono::milliseconds::zero()));
}
/// One slice of a wait until `d`, as librdkafka's timeout argument.
inline int slice_ms(const detail::Deadline& d) { return static_cast<int>(d.slice(kSlice).count()); }

/// The partition of a librdkafka list element.
inline TopicPartition partition_of(const rd_kafka_topic_partition_t& e) { return {e.topic, e.partition}; }
/// "topic[3]@42", for logs.
inline std::string at_offset(const TopicPartition& tp, std::int64_t offset) {
    return tp.to_string() + "@" + std::to_string(offset);
}
/// A list of one partition (its offset set when given).
detail::PartitionList one_partition(const TopicPartition& tp, std::optional<std::int64_t> offset = {});

}  // namespace detail_consumer

class AssignmentWatch;
struct AssignmentWatchRequests {
    bool rejoin = false;
    std::vector<std::pair<bool, std::string>> notes;  // (a warning?, the line) to log
};

struct GRACEDB_NO_EXPORT Consumer::Impl final : detail_client::ClientCore {
    ConsumerOptions options;
    std::string instance;
    std::string group;
    detail::KafkaHandle rk;
    std::atomic<bool> stop_flag{false};
    std::atomic<bool> wake_flag{false};  // wakeup(): the next empty poll returns at once
    detail_client::CallGate gate;  // close() from any thread: see CallGate (every use of rk holds a Use)
    std::deque<Message> buffered;  // read while waiting for an assignment (offsets stored when returned)
    std::uint64_t tls_mark = 0;    // connection events seen by the previous poll
    mutable std::mutex assignment_mutex;
    std::vector<TopicPartition> assigned;
    bool auto_commit = true;  // enable.auto.commit as librdkafka reads it
    // The next offset to commit per partition: one past the last message handed to the application (and
    // stored). close() commits these itself when auto-commit is on (see commit_on_close). Touched only by
    // the thread that polls and by the rebalance callback, which runs inside that thread's poll.
    std::map<TopicPartition, std::int64_t> handed;
    // Offsets handed over whose commit failed or was never made: a commit refused at a revoke (the member
    // fenced, "Unknown member", e.g. while the group's coordinator moved), which librdkafka 2.0.2 drops, or a
    // LOST assignment, for which it commits nothing (rd_kafka_cgrp_assigned_offsets_commit skips it, and its
    // auto-commit timer does not run during the rejoin). It would then fetch those partitions again from the
    // old committed offset. When such a partition is assigned to this member again (the next assignment),
    // fetching resumes after what was handed over and that offset is committed (and stored: the auto-commit
    // timer retries a failed commit); partitions that went to another member are given up, with a warning.
    // Thread: as `handed` (offset_commit_cb and the rebalance callback run inside this consumer's poll).
    std::map<TopicPartition, std::int64_t> handed_before_loss;
    std::unique_ptr<detail_replay::Replay> replay;  // since_gps / until_gps (consumer_replay.hpp)
    // close(): one closer at a time. A close the interrupt hook ended keeps its progress here for the next
    // close() or the destructor: the calls inside drained, the commit at close made, the group being left.
    // (std::timed_mutex would do, but ThreadSanitizer does not know pthread_mutex_clocklock.)
    std::mutex close_mutex;
    std::condition_variable close_cv;
    bool closer_inside = false;  // a thread is in close_within (under close_mutex)
    bool close_begun = false;
    bool close_committed = false;
    detail::KafkaQueue close_queue;  // rd_kafka_consumer_close_queue's, while the group is being left
    bool close_refused = false;      // librdkafka refused to start leaving the group
    bool close_done = false;
    // topic.metadata.refresh.interval.ms as librdkafka reads it: the period of the assignment watch.
    std::chrono::milliseconds refresh_interval{5000};
    std::vector<std::string> subscription;  // the topics and patterns subscribed to (under assignment_mutex)
    std::mutex subscribe_mutex;  // around each rd_kafka_subscribe (no callback takes it)
    // The watch's requests (under assignment_mutex), carried out by the polling thread (rejoin_if_due).
    AssignmentWatchRequests watch_requests;
    std::atomic<bool> watch_requested{false};
    std::atomic<std::int64_t> last_poll_ms{0};  // steady clock, set by each poll: the watch judges only then
    // Started by the first subscribe (under assignment_mutex); close() stops it, once no call is inside,
    // before it destroys rk (stop_watch).
    std::unique_ptr<AssignmentWatch> watch;

    // consumer.cpp
    explicit Impl(ConsumerOptions o);
    ~Impl() override;
    [[noreturn]] static void throw_closed();
    /// Holds rk for one call; raises KafkaConsumerError (client_closed) once close() began.
    struct Use : detail_client::CallGate::Call {
        explicit Use(Impl& im) : Call{im.gate, &Impl::throw_closed} {}
    };
    void subscribe_topics(const std::vector<std::string>& pipelines);
    rd_kafka_resp_err_t subscribe_to(const std::vector<std::string>& topics);
    void rejoin_if_due();
    void stop_watch() noexcept;
    /// Between two slices of a blocking wait: ConsumerOptions::interrupt, whose exception ends the wait.
    void between_slices() const {
        if (options.interrupt) options.interrupt();
    }
    /// The same inside a call: the hook runs with the call's hold let go (a close() it makes does not wait
    /// for this call); client_closed when close() began meanwhile.
    void between_slices(Use& use) const {
        if (options.interrupt && !use.released(options.interrupt)) throw_closed();
    }

    // consumer_poll.cpp
    /// librdkafka's message as a Message (a copy).
    static Message convert(const rd_kafka_message_t* m);
    std::optional<Message> poll_until(const detail::Deadline& deadline);
    Message hand_over(Message msg);
    void raise_unhealing(std::uint64_t mark);
    bool replay_finished() const;

    // consumer_rebalance.cpp
    static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                             void* opaque);
    void assign(rd_kafka_t* handle, rd_kafka_topic_partition_list_t* parts, bool cooperative);
    void revoke(rd_kafka_t* handle, rd_kafka_topic_partition_list_t* parts, bool cooperative);
    int resume_after_loss(rd_kafka_topic_partition_list_t* parts);
    void set_paused(const TopicPartition& tp, bool pause);
    bool has_assignment() const {
        std::lock_guard lock{assignment_mutex};
        return !assigned.empty();
    }

    // consumer_commit.cpp
    static void on_commit(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
                          void* opaque);
    void commit_resumed(const rd_kafka_topic_partition_list_t* parts);
    void commit_list(rd_kafka_topic_partition_list_t* list);
    rd_kafka_resp_err_t commit_and_wait(const rd_kafka_topic_partition_list_t* list,
                                        const detail::Deadline& deadline,
                                        const std::function<void()>& between);
    bool commit_on_close(const detail::Deadline& deadline, const std::function<void()>& between);

    // consumer_close.cpp
    void close_within(std::chrono::milliseconds timeout, bool interruptible);
    void leave_group(std::chrono::milliseconds timeout, const detail::Deadline& deadline,
                     const std::function<void()>& between);
};

}  // namespace gracedb::kafka
