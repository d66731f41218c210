// gracedb::Supervisor: the server side of event submission over Kafka. It consumes every pipeline topic of a
// GraceDB instance (a pattern subscription: new pipelines are picked up within seconds) and completes each
// reserved event with upload_reserved_event.
//
// Concurrent: up to `max_in_flight` uploads run at once on a fixed pool of worker threads (one GraceDB
// connection each), across and within partitions; pings and other messages that need no upload are done at
// once. At-least-once: an offset is committed only when every earlier message of its partition is done
// (uploaded, already uploaded (409), skipped, or dead-lettered); commits are batched every `commit_interval` and
// made on a thread of their own.
// What is dead-lettered: only a message that no supervisor could ever upload (undecodable, not an event
// envelope, a name GraceDB rejects after a fresh look at its API root, a 400 in GraceDB's own error shape, a
// topic or key that contradicts the body, a 404 that lasted `never_reserved_after` while other uploads
// succeeded). It is copied whole, with the reason, to the dead-letter topic and committed.
// Everything else is retried with back-off and never committed past: 401/403 (the supervisor's token: GraceDB
// treats a bad token as anonymous), 3xx, other 4xx, 408, 429, 5xx, no answer, TLS. When such failures hit every
// event, the supervisor is "blocked": it stops fetching, logs why (SupervisorStats::blocked, blocked_reason),
// and resumes by itself when an upload succeeds again (a token renewed on disk, the server back).
// The topic binds the body: group Test only on "<instance>.test", any other group only on
// "<instance>.<pipeline in lower case>", and the key must be the graceid. What trust remains: whoever may write a
// pipeline's topic may complete that pipeline's reservations (GraceDB's per-pipeline topic ACLs are the guard).
// Errors of the consumer (poll, commit, pause, resume) are logged and survived. Several supervisors in one
// consumer group share the partitions; the state of a partition taken away in a rebalance is dropped (its
// offsets are never committed by this supervisor again), and pausing survives rebalances.
#pragma once

#include <gracedb/supervisor_export.hpp>

#include <gracedb/kafka/consumer.hpp>
#include <gracedb/kafka/producer.hpp>
#include <gracedb/rest/client.hpp>

#include <array>
#include <atomic>
#include <cstddef>
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
    std::string topic{};                   ///< The message's topic.
    std::int32_t partition = -1;           ///< Its partition.
    std::int64_t offset = -1;              ///< Its offset.
    std::optional<std::string> graceid{};  ///< The event's graceid, when the message named one.
    /// "uploaded", "already-uploaded", "skipped", "dead-lettered", "retrying", or "dropped" (its partition was
    /// revoked while it waited for a retry: the partition's new owner does it).
    std::string outcome{};
    std::string detail{};  ///< Why (the reason of a retry or a dead letter, GraceDB's answer), for the log.
    std::optional<std::chrono::duration<double>> delay{};  ///< now - _producer_timestamp, when known
};

/// A distribution of durations in a fixed number of logarithmic buckets (8 per doubling, from 0.1 ms to
/// about 7 hours; ~9% resolution): constant memory however many values it has seen.
struct GRACEDB_SUPERVISOR_EXPORT LatencySummary {
    static constexpr int kBucketsPerDoubling = 8;  ///< Buckets per doubling of the duration.
    static constexpr int kDoublings = 28;          ///< Doublings covered above kSmallest.
    static constexpr double kSmallest = 1e-4;  ///< seconds: the upper bound of the first bucket
    /// Counts per bucket: bucket 0 up to kSmallest, then kBucketsPerDoubling per doubling, the last for
    /// everything above the range.
    std::array<std::uint64_t, kBucketsPerDoubling * kDoublings + 2> buckets{};

    std::uint64_t count = 0;  ///< Values added.
    double sum_s = 0;         ///< Their sum, in seconds.
    double max_s = 0;         ///< The largest, in seconds.

    /// Adds one duration in seconds (a value that is not finite is ignored). Not thread-safe.
    void add(double seconds) noexcept;
    /// The value below which a fraction `q` (0..1) of the values lie, in seconds (the middle of its bucket,
    /// never above max_s); 0 when empty.
    double quantile(double q) const noexcept;
    double p50() const noexcept { return quantile(0.50); }  ///< The median, in seconds.
    double p99() const noexcept { return quantile(0.99); }  ///< The 99th percentile, in seconds.
    /// The mean, in seconds; 0 when empty.
    double mean() const noexcept { return count ? sum_s / static_cast<double>(count) : 0; }
};

/// A snapshot of the supervisor's counters and state (Supervisor::stats()).
struct GRACEDB_SUPERVISOR_EXPORT SupervisorStats {
    std::uint64_t uploaded = 0, already_uploaded = 0, skipped = 0, dead_lettered = 0, retries = 0;
    std::uint64_t dropped = 0;           ///< events waiting for a retry whose partition was revoked
    std::uint64_t commits = 0;           ///< offsets committed (one per partition and batch)
    std::uint64_t commit_failures = 0;   ///< commits the broker refused or that failed (tried again later)
    std::uint64_t consumer_errors = 0;   ///< errors of poll/pause/resume, logged and survived
    /// Messages taken and not done yet (uploading, waiting, dead letter).
    std::size_t in_flight = 0;
    /// Every recent upload failed for a reason that is not the messages' (the supervisor refused, GraceDB down):
    /// fetching is stopped until an upload succeeds again; the messages held keep being retried.
    bool blocked = false;
    std::string blocked_reason{};        ///< why, while blocked (the last such failure)
    std::size_t paused_partitions = 0;   ///< partitions whose fetching is paused (window full, or blocked)
    std::uint64_t dead_letter_rebuilds = 0;  ///< dead-letter producers rebuilt after a fatal error
    /// When the last upload succeeded (nothing before the first).
    std::optional<std::chrono::system_clock::time_point> last_upload{};
    LatencySummary delays{};             ///< produce-to-upload delay of uploaded events
    /// The newest produce-to-upload delays (at most kRecentDelays), oldest first.
    std::vector<double> delays_s{};
    static constexpr std::size_t kRecentDelays = 1024;  ///< How many delays delays_s keeps.
};

/// What the supervisor consumes, where it uploads, and how it paces retries, commits and shutdown.
struct GRACEDB_SUPERVISOR_EXPORT SupervisorOptions {
    /// Kafka side. `topics` is ignored (the whole instance is consumed); group_id defaults to
    /// "gracedb-supervisor-<instance>"; auto-commit is turned off (commits follow uploads).
    kafka::ConsumerOptions consumer{};
    /// The GraceDB service URL and client options; the client's token is the service principal's.
    std::string service_url{};
    GraceDbOptions rest{};  ///< Options of the REST client (one per upload worker).
    /// The dead-letter topic is "<dead_letter_prefix>.<instance>", outside the "<instance>." prefix.
    std::string dead_letter_prefix = "gracedb-deadletter";
    /// Per event: the first retry after initial_backoff, then doubling (with jitter) up to max_backoff.
    std::chrono::milliseconds initial_backoff = std::chrono::milliseconds{500};
    std::chrono::milliseconds max_backoff = std::chrono::seconds{30};  ///< The longest wait between retries.
    /// How long one poll of the consumer waits for a message (also the pace of step()).
    std::chrono::milliseconds poll_timeout = std::chrono::milliseconds{200};
    /// Uploads running at once (the size of the worker pool). Messages held in memory are bounded too: fetching
    /// pauses when 4 x max_in_flight + 64 messages are not done, and resumes when half of them are.
    std::size_t max_in_flight = 32;
    /// How often finished offsets are committed (one commit per partition that moved).
    std::chrono::milliseconds commit_interval = std::chrono::milliseconds{500};
    /// A commit still running after this long is reported; when stopping, the last commit is waited for at
    /// most this long.
    std::chrono::milliseconds commit_timeout = std::chrono::seconds{10};
    /// When stopping, uploads already running are waited for at most this long (their offsets then committed).
    std::chrono::milliseconds drain_timeout = std::chrono::seconds{10};
    /// A 404 to one event's upload is the event's own fault (its graceid never reserved) only once it has
    /// lasted this long while other uploads succeeded since its first 404; until then it is retried (a proxy or
    /// a deploy in front of GraceDB also answers 404). Then the message is dead-lettered.
    std::chrono::milliseconds never_reserved_after = std::chrono::seconds{60};
    /// "HOST:PORT" (port 0: a free one): serve /metrics (Prometheus text format), /healthz and /readyz there
    /// (docs/operators.md). Unset: no endpoint. Loopback unless the network is trusted: no TLS.
    std::optional<std::string> metrics_address{};
    /// How often the supervisor publishes its heartbeat (identity, uptime, counters, recent produce-to-upload
    /// delays; docs/replay-and-heartbeat.md) to "<heartbeat_prefix>.<instance>", outside the instance's
    /// prefix. Zero: no heartbeat.
    std::chrono::milliseconds heartbeat_interval = std::chrono::seconds{5};
    /// The heartbeat topic's first part: "<heartbeat_prefix>.<instance>".
    std::string heartbeat_prefix = "gracedb-heartbeat";
    bool handle_signals = true;  ///< SIGINT/SIGTERM end run() after draining
    /// Called for every message, on the thread of run() / step().
    std::function<void(const SupervisorEvent&)> on_event{};
};

/// The supervisor (see the top of this header): consumes an instance's topics and completes each reserved
/// event over HTTP. Not movable. run() on one thread; stop(), stats() and the accessors from any thread.
class GRACEDB_SUPERVISOR_EXPORT Supervisor {
public:
    /// Connects the consumer, the dead-letter producer and the REST client; throws as they do.
    explicit Supervisor(SupervisorOptions options);
    ~Supervisor();
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;

    /// Runs until stop() (any thread) or SIGINT/SIGTERM, then drains: uploads already running are finished
    /// (at most drain_timeout) and what is done is committed (at most commit_timeout); retries still pending
    /// are left uncommitted (the next supervisor does them); the consumer leaves the group. Errors of the
    /// consumer and of single messages never end it; a fatal error of the consumer (the client is unusable,
    /// gracedb::Error::fatal()) is rethrown.
    void run();
    /// One step of run(): finished uploads handled, due retries started, commits scheduled, one poll. For
    /// embedding in another loop (then the destructor drains). Throws only as run() does.
    void step();
    /// Asks run() to stop (it then drains) and wakes its poll. Any thread; never throws.
    void stop() noexcept;

    /// A consistent snapshot of the counters and state. Any thread.
    SupervisorStats stats() const;
    /// The port of the metrics endpoint (SupervisorOptions::metrics_address), if it serves one.
    std::optional<int> metrics_port() const;
    /// `<dead_letter_prefix>.<instance>`.
    const std::string& dead_letter_topic() const;
    /// The instance whose topics are consumed.
    const std::string& instance_name() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gracedb
