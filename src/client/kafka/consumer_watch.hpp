// Private: the consumer's assignment watch, a thread that notices partitions of subscribed topics held by no
// member of the group for longer than a grace period (librdkafka 2.0.2 can leave a group so) and rejoins.
#pragma once

#include <gracedb/kafka/consumer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "client/kafka/consumer_impl.hpp"
#include "common/deadline.hpp"
#include "common/rdkafka.hpp"

namespace gracedb::kafka {

class AssignmentWatch {
public:
    /// What the watch reads of the consumer (Consumer::Impl's members, which outlive the watch). The watch
    /// never calls the application (no log line on its thread): what it has to say and the rejoin it asks
    /// for are left in `requests`, which the polling thread carries out (Consumer::Impl::rejoin_if_due).
    using Requests = AssignmentWatchRequests;
    struct Watched {
        rd_kafka_t* rk;
        const std::string& group;
        std::mutex& assignment_mutex;
        const std::vector<TopicPartition>& assigned;   // under assignment_mutex
        const std::vector<std::string>& subscription;  // topics and patterns, under assignment_mutex
        Requests& requests;                            // under assignment_mutex
        std::atomic<bool>& requested;                  // set with `requests`: the polling thread looks
        const std::atomic<std::int64_t>& last_poll;    // steady-clock ms of the last poll (0: never polled)
    };
    /// Watches every `period` (librdkafka's topic.metadata.refresh.interval.ms).
    AssignmentWatch(Watched consumer, std::chrono::milliseconds period);
    ~AssignmentWatch();  // stops the thread and joins it (a check under way ends at its next request)
    AssignmentWatch(const AssignmentWatch&) = delete;
    AssignmentWatch& operator=(const AssignmentWatch&) = delete;

private:
    void run();
    void check();
    bool stopping();
    void unheld_for_a_while(const std::set<TopicPartition>& unheld, bool group_described);
    void all_held();
    void tell(bool warning, std::string line, bool rejoin);

    Watched consumer_;
    const std::chrono::milliseconds period_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stop_ = false;
    // Touched by the watch's thread only.
    std::chrono::milliseconds grace_;
    std::optional<detail::Deadline> act_at_;  // set while partitions are unheld: when to rejoin
    detail::Deadline::Clock::time_point last_unheld_{};  // the last check that saw them unheld
    int rejoins_ = 0;                                     // in this episode
    // A healthy group's view, verified by describing it: while the subscribed partitions this member does not
    // hold stay the same, the group is not described again before calm_until_ (each description is a
    // ListGroups to every broker and a DescribeGroups).
    std::set<TopicPartition> calm_;
    std::optional<detail::Deadline> calm_until_;
    std::thread thread_;  // last: starts once the rest is set
};

}  // namespace gracedb::kafka
