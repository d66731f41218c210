// gracedb::kafka::TopicPartition: one partition of one topic, the unit that is assigned, paused, resumed and
// committed. Compared and ordered as (topic, partition), so it can key a std::map or std::set.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace gracedb::kafka {

/// One partition of one topic, the unit that is assigned, paused, resumed and committed. Ordered as
/// (topic, partition), so it can key a std::map or std::set.
struct TopicPartition {
    std::string topic{};          ///< The topic's full name ("gracedb-dev.gstlal").
    std::int32_t partition = -1;  ///< The partition number; -1 when none is set.

    /// Orders by topic, then partition.
    auto operator<=>(const TopicPartition&) const = default;
    /// Equal when topic and partition are.
    bool operator==(const TopicPartition&) const = default;

    /// "topic[3]", for messages and logs.
    std::string to_string() const { return topic + "[" + std::to_string(partition) + "]"; }
};

}  // namespace gracedb::kafka
