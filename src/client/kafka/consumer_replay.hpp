// Private: the consumer's replay window (ConsumerOptions::since_gps / until_gps). Every partition assigned to
// the consumer for the first time starts at the first message at or after since_gps (librdkafka's
// offsets_for_times, in the rebalance callback); a partition ends at its first message at or after until_gps
// (that message is not handed over) or, once until_gps has passed on this machine's clock, when the consumer
// has read up to the broker's end of it. An ended partition is paused; the consumer is finished when every
// partition assigned to it has ended. Everything here runs on the thread that polls (the rebalance callback
// runs inside its poll); finished() may be read from any thread.
#pragma once

#include <gracedb/kafka/consumer.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/deadline.hpp"
#include "common/rdkafka.hpp"

namespace gracedb::kafka::detail_replay {

class Replay {
public:
    /// Nothing when neither bound is set. Throws std::invalid_argument for a bound that is not a finite GPS
    /// time after the GPS epoch, or until_gps not after since_gps.
    static std::unique_ptr<Replay> from(const ConsumerOptions& options);

    /// In the rebalance callback, before the partitions are assigned: sets each one's start offset. A
    /// partition seen before continues where this consumer was; a new one starts at since_gps (or, without
    /// it, at the group's committed offset or auto_offset_reset). A failed lookup is raised by raise().
    void on_assign(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts,
                   const std::string& auto_offset_reset);
    /// After the assignment: pauses the partitions that have ended already.
    void after_assign(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* parts);
    /// A message fetched: true to hand it over, false when it lies at or past the partition's end (the
    /// partition then ends: paused, the message not handed over and its offset not stored).
    bool admit(rd_kafka_t* rk, const Message& msg);
    /// After a poll that returned nothing: ends the partitions read up to their end (once until_gps passed).
    void idle(rd_kafka_t* rk);
    /// until_gps is set, partitions are assigned, and every one of them has ended.
    bool finished(const std::vector<TopicPartition>& assigned) const;
    /// Raises a failed offset lookup (KafkaConsumerError) once.
    void raise();

private:
    struct Part {
        std::int64_t next = -1;               // the next offset this consumer reads; -1 unknown
        std::optional<std::int64_t> end{};    // the first offset past the window, once known
        bool done = false;
        bool filter_since = false;            // the broker cannot look up by time: read all, skip the older
    };
    Replay(std::optional<std::int64_t> since_ms, std::optional<std::int64_t> until_ms)
        : since_ms_{since_ms}, until_ms_{until_ms} {}
    void end(rd_kafka_t* rk, const TopicPartition& tp, Part& p);
    void fail(const std::string& what, rd_kafka_resp_err_t err);
    bool finds_times(rd_kafka_t* rk, const char* topic, std::int32_t partition);

    std::optional<std::int64_t> since_ms_, until_ms_;  // Unix milliseconds (Kafka timestamps)
    mutable std::mutex mutex_;
    std::map<TopicPartition, Part> parts_;
    detail::Deadline next_idle_check_ = detail::Deadline::at({});  // idle() looks again once this passed
    std::exception_ptr error_;
};

}  // namespace gracedb::kafka::detail_replay
