// Private to the supervisor: the dead-letter topic "<prefix>.<instance>", where a message that no supervisor
// could ever upload is copied, whole, with why. A copy keeps the original's value, key and headers, and says
// where it came from and when in headers of its own:
//   dlq.reason, dlq.topic, dlq.partition, dlq.offset, dlq.timestamp_ms (the original's timestamp, if any),
//   dlq.graceid (if the message named one)
// The original's own headers named "dlq.*" are kept as "original.dlq.*" (ours always say where it came from).
// A copy that cannot fit (over the producer's or the broker's message size, told by the error's code) is sent
// as its first kTruncatedSize bytes with dlq.value_truncated_from = the original size (the key likewise cut
// to kTruncatedKey, large original headers dropped); if even that does not fit, as our headers alone. The
// original itself stays in its topic at dlq.topic/dlq.partition/dlq.offset until the topic's retention.
// The producer is rebuilt after a fatal error (every copy it held is reported failed, and retried).
// Runs on the polling thread only.
#pragma once

#include <gracedb/error.hpp>
#include <gracedb/kafka/producer.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/deadline.hpp"
#include "supervisor/job.hpp"

namespace gracedb::supervisor_detail {

class DeadLetters {
public:
    static constexpr std::size_t kTruncatedSize = 64 * 1024;
    static constexpr std::size_t kTruncatedKey = 1024;

    struct Outcome {
        JobPtr job;
        std::optional<std::string> error;  // set: the copy was not delivered (the job is to be retried)
    };

    /// `options` build the producer (and rebuild it); `topic` is where its messages go (for messages).
    DeadLetters(kafka::ProducerOptions options, std::string topic);
    ~DeadLetters();
    /// The options its producer was built with (the brokers and credentials; the heartbeat uses them too).
    const kafka::ProducerOptions& producer_options() const { return options_; }

    /// Sends the copy of `job` (whose dead_reason is set). Failures come back from serve().
    void send(const JobPtr& job);
    /// Serves delivery reports: the copies delivered or failed since the last call.
    std::vector<Outcome> serve();
    std::size_t in_flight() const { return in_flight_.size(); }
    const std::string& topic() const { return topic_; }
    /// How many times the producer was rebuilt after a fatal error.
    std::uint64_t rebuilds() const { return rebuilds_; }

private:
    void rebuild(const std::string& why);
    void failed(const JobPtr& job, const gracedb::Error* error, const std::string& text);

    kafka::ProducerOptions options_;
    std::unique_ptr<kafka::Producer> producer_;
    std::string topic_;
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, JobPtr> in_flight_;
    std::vector<Outcome> outcomes_;
    std::uint64_t rebuilds_ = 0;
    bool rebuild_due_ = false;  // a fatal error was seen: rebuilt in serve(), never inside a callback
    detail::Deadline next_rebuild_ = detail::Deadline::at({});  // a failed rebuild is tried again every second
};

}  // namespace gracedb::supervisor_detail
