// Private to the supervisor: one message being worked on, from its admission until it is done (uploaded,
// already uploaded, skipped or dead-lettered), with everything needed to retry it or copy it whole to the
// dead-letter topic.
#pragma once

#include <gracedb/kafka/topic_partition.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "supervisor/decode.hpp"

namespace gracedb::supervisor_detail {

using Clock = std::chrono::steady_clock;

struct Job {
    std::uint64_t epoch = 0;  // of the partition tracker that admitted it
    kafka::TopicPartition tp;
    std::int64_t offset = -1;
    // The original message, whole, for a dead-letter copy.
    std::optional<std::string> key;
    std::string value;
    std::vector<std::pair<std::string, std::optional<std::string>>> headers;
    std::optional<std::chrono::system_clock::time_point> timestamp;

    std::optional<std::string> graceid;
    std::optional<double> producer_timestamp;
    std::optional<Upload> upload;
    std::string dead_reason;  // set: the job is to be dead-lettered (not uploaded)
    int truncate_dead_letter = 0;  // how much of the original the dead-letter copy drops (DeadLetters::send)
    // Retries.
    std::chrono::milliseconds backoff{0};
    Clock::time_point due{};
    std::optional<Clock::time_point> not_found_since;  // its first 404 (see Supervisor: the 404 rule)
    std::optional<Clock::time_point> name_refused_since;  // its first unknown_name
    std::uint32_t attempts = 0;
};
using JobPtr = std::shared_ptr<Job>;

}  // namespace gracedb::supervisor_detail
