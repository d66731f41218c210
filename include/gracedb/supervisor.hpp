// gracedb::Supervisor: the server side of event submission over Kafka. It consumes every pipeline topic of a
// GraceDB instance (a pattern subscription: new pipelines are picked up within seconds) and completes each
// reserved event with upload_reserved_event. At-least-once: an offset is committed only after its upload
// succeeded or the server said it was already done (409); transient failures are retried with back-off while
// the other partitions go on; a message that can never succeed is copied, with the reason, to the dead-letter
// topic and committed. Several supervisors in one consumer group share the partitions.
#pragma once

#include <gracedb/supervisor_export.hpp>

#include <gracedb/kafka/consumer.hpp>
#include <gracedb/kafka/producer.hpp>
#include <gracedb/rest/client.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gracedb {

/// What happened to one message.
struct GRACEDB_SUPERVISOR_EXPORT SupervisorEvent {
    std::string topic{};
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    std::optional<std::string> graceid{};
    std::string outcome{};  // "uploaded", "already-uploaded", "skipped", "dead-lettered", "retrying"
    std::string detail{};
    std::optional<std::chrono::duration<double>> delay{};  // now - _producer_timestamp, when known
};

struct GRACEDB_SUPERVISOR_EXPORT SupervisorStats {
    std::uint64_t uploaded = 0, already_uploaded = 0, skipped = 0, dead_lettered = 0, retries = 0;
    std::vector<double> delays_s{};  // produce-to-upload delay of every uploaded event
};

struct GRACEDB_SUPERVISOR_EXPORT SupervisorOptions {
    /// Kafka side. `topics` is ignored (the whole instance is consumed); group_id defaults to
    /// "gracedb-supervisor-<instance>"; auto-commit is turned off (commits follow uploads).
    kafka::ConsumerOptions consumer{};
    /// The GraceDB service URL and client options; the client's token is the service principal's.
    std::string service_url{};
    GraceDbOptions rest{};
    /// The dead-letter topic is "<dead_letter_prefix>.<instance>", outside the "<instance>." prefix.
    std::string dead_letter_prefix = "gracedb-deadletter";
    std::chrono::milliseconds initial_backoff = std::chrono::milliseconds{500};
    std::chrono::milliseconds max_backoff = std::chrono::seconds{30};
    std::chrono::milliseconds poll_timeout = std::chrono::milliseconds{200};
    bool handle_signals = true;  // SIGINT/SIGTERM end run() after draining
    /// Called for every message, on the thread of run().
    std::function<void(const SupervisorEvent&)> on_event{};
};

class GRACEDB_SUPERVISOR_EXPORT Supervisor {
public:
    /// Connects the consumer, the dead-letter producer and the REST client; throws as they do.
    explicit Supervisor(SupervisorOptions options);
    ~Supervisor();
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;

    /// Runs until stop() (any thread) or SIGINT/SIGTERM, then drains: the message in hand is finished and
    /// committed, retries still pending are left uncommitted (the next supervisor does them), and the
    /// consumer leaves the group.
    void run();
    /// One step of run(): one poll and the retries that are due. For embedding in another loop.
    void step();
    void stop() noexcept;

    SupervisorStats stats() const;
    const std::string& dead_letter_topic() const;
    const std::string& instance_name() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gracedb
