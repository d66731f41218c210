// Private: the consumer's assignment watch, a thread that notices partitions of subscribed topics held by no
// member of the group for longer than a grace period (librdkafka 2.0.2 can leave a group so) and rejoins.
#pragma once

#include <gracedb/kafka/consumer.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "common/deadline.hpp"
#include "common/rdkafka.hpp"

namespace gracedb::kafka {

class AssignmentWatch {
public:
    /// What the watch reads of the consumer (Consumer::Impl's members, which outlive the watch).
    struct Watched {
        rd_kafka_t* rk;
        const std::string& group;
        std::mutex& assignment_mutex;
        const std::vector<TopicPartition>& assigned;  // under assignment_mutex
        const std::vector<std::string>& subscription;  // topics and patterns, under assignment_mutex
        std::atomic<bool>& rejoin_due;                 // the polling thread rejoins when set
    };
    /// Watches every `period` (librdkafka's topic.metadata.refresh.interval.ms).
    AssignmentWatch(Watched consumer, std::chrono::milliseconds period);
    ~AssignmentWatch();  // stops the thread and joins it (a check under way ends within ~2 s)
    AssignmentWatch(const AssignmentWatch&) = delete;
    AssignmentWatch& operator=(const AssignmentWatch&) = delete;

private:
    void run();
    void check();
    void unheld_for_a_while(const std::set<TopicPartition>& unheld, bool group_described);
    void all_held();
    void rejoin();

    Watched consumer_;
    const std::chrono::milliseconds period_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stop_ = false;
    // Touched by the watch's thread only.
    std::chrono::milliseconds grace_;
    std::optional<detail::Deadline> act_at_;  // set while partitions are unheld: when to rejoin
    bool warned_ = false;
    std::thread thread_;  // last: starts once the rest is set
};

}  // namespace gracedb::kafka
