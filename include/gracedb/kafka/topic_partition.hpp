// gracedb::kafka::TopicPartition: one partition of one topic, the unit that is assigned, paused, resumed and
// committed. Compared and ordered as (topic, partition), so it can key a std::map or std::set.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace gracedb::kafka {

struct TopicPartition {
    std::string topic{};
    std::int32_t partition = -1;

    auto operator<=>(const TopicPartition&) const = default;
    bool operator==(const TopicPartition&) const = default;

    /// "topic[3]", for messages and logs.
    std::string to_string() const { return topic + "[" + std::to_string(partition) + "]"; }
};

}  // namespace gracedb::kafka
