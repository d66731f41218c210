// gracedb::kafka::Consumer: the spec's GraceDbKafkaConsumer. SciToken authentication, namespaced
// subscriptions, live streaming or replay, persistent position, clean shutdown on SIGINT/SIGTERM.
#pragma once

#include <gracedb/export.hpp>

#include <gracedb/kafka/auth.hpp>
#include <gracedb/kafka/topic_partition.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gracedb::kafka {

// For the library's own internal tests only (defined in a private header, never exported): not part of the API.
struct detail_consumer_peer;

/// Field names and order follow the Python keyword arguments. Exactly one of instance_name / service_url.
struct GRACEDB_EXPORT ConsumerOptions {
    /// The brokers, "host:port[,host:port...]" (librdkafka's bootstrap.servers). Required.
    std::string bootstrap_servers{};
    /// Pipeline names; namespaced for you; subscribed at construction.
    std::vector<std::string> topics{};
    /// The instance topics are namespaced with ("gracedb-dev"); or give service_url.
    std::optional<std::string> instance_name{};
    /// The GraceDB service URL; its host's first label is the instance (derive_instance_name).
    std::optional<std::string> service_url{};
    std::optional<std::string> group_id{};   ///< none: "gracedb-<host>-<pid>-<epoch ms>", unique
    bool use_ssl = true;  ///< false: SASL_PLAINTEXT (the token travels in clear text, with a warning).
    /// A PEM file of CA certificates that verify the brokers (ssl.ca.location); default: the system's.
    std::optional<std::string> ca_cert_path{};
    /// Accept a broker certificate for another host name (logged as a warning; for tests only).
    bool skip_hostname_verification = false;
    /// The scope the Kafka token must grant.
    std::string token_scope = "kafka.consume";
    /// The audience the Kafka token must carry; default: the first broker's host name.
    std::optional<std::string> token_audience{};
    /// Re-read the token from disk before it expires; false: use the first one until its exp.
    bool reload_cred = true;
    /// How long before the token's exp it is re-read from disk.
    std::chrono::milliseconds reload_buffer = std::chrono::seconds{300};
    std::string auto_offset_reset = "latest";  ///< "earliest" to replay
    std::map<std::string, std::string> kafka_config{};  ///< e.g. {"enable.auto.commit", "false"}
    /// Replay from a GPS time (seconds; leap seconds handled): each partition assigned to this consumer for
    /// the first time starts at its first message whose Kafka timestamp is at or after since_gps, whatever
    /// the group committed (a partition it had before continues where it was). Unset: the group's offset or
    /// auto_offset_reset.
    std::optional<double> since_gps{};
    /// End of the window (exclusive: [since_gps, until_gps)): a partition ends at its first message stamped
    /// at or after until_gps (not returned; the partition is paused), or, once until_gps has passed on this
    /// machine's clock, when it has been read to its end. When every assigned partition has ended,
    /// replay_finished() is true, poll() returns nothing at once and a stream ends ("until").
    std::optional<double> until_gps{};
    /// Called on the waiting thread between slices (at most 100 ms) of every blocking call of this consumer
    /// (poll, consume, wait_for_assignment, close, the stream's waits): an exception it throws ends the wait
    /// and propagates to the caller; nothing is lost (a message not yet returned is returned by the next
    /// call; an interrupted close() is finished by the next close() or the destructor, which never calls the
    /// hook). The Python package sets it to run Python's signal handlers. Empty: no calls.
    std::function<void()> interrupt{};
};

/// One Kafka message, as Python's message dict.
struct GRACEDB_EXPORT Message {
    std::string topic{};  ///< the Kafka topic, namespaced: "gracedb-dev.gstlal"
    std::int32_t partition = -1;       ///< Its partition.
    std::int64_t offset = -1;          ///< Its offset in the partition.
    std::optional<std::string> key{};  ///< The key (the graceid for events); none when it had no key.
    std::string value{};  ///< the raw bytes
    /// The message's timestamp (Kafka's CreateTime or LogAppendTime), if it has one.
    std::optional<std::chrono::system_clock::time_point> timestamp{};
    /// Headers as (name, value) pairs in the order sent, repeats kept.
    /// A header value may be null.
    std::vector<std::pair<std::string, std::optional<std::string>>> headers{};

    /// Parses `value`; std::invalid_argument (naming topic, partition and offset) if it is not JSON.
    nlohmann::json json() const;
};

/// Move-only. The destructor closes with a deadline and never throws.
class GRACEDB_EXPORT Consumer {
public:
    class Stream;

    /// Throws std::invalid_argument for bad options (both or neither of instance_name/service_url, a bad
    /// auto_offset_reset, an unknown librdkafka key or bad value, a since_gps/until_gps that is not a finite
    /// GPS time after 1980-01-06, an until_gps not after since_gps) and KafkaTokenError when SASL is used and
    /// no usable token exists.
    explicit Consumer(ConsumerOptions options);
    ~Consumer();
    /// Takes over the other consumer's client; the moved-from object may only be destroyed or assigned.
    Consumer(Consumer&&) noexcept;
    /// Closes this consumer's client (as the destructor does), then takes over the other's.
    Consumer& operator=(Consumer&&) noexcept;
    Consumer(const Consumer&) = delete;
    Consumer& operator=(const Consumer&) = delete;

    /// Subscribes to pipelines (namespaced for you), replacing the previous subscription. A topic that does not
    /// exist yet is fine: messages flow once it appears. Throws std::invalid_argument for an illegal name,
    /// KafkaConsumerError if librdkafka refuses.
    void subscribe(std::string_view pipeline);
    /// Subscribes to several pipelines at once (as subscribe(std::string_view), for each).
    void subscribe(std::initializer_list<std::string_view> pipelines);
    /// Subscribes to several pipelines at once (as subscribe(std::string_view), for each).
    void subscribe(const std::vector<std::string>& pipelines);
    /// Subscribes to every topic of the instance ("^<instance>\\..*"), new ones included.
    void subscribe_all();

    /// One message, or nothing within `timeout`. Raises KafkaConsumerError (KafkaAuthenticationError for
    /// authentication and authorization failures). End-of-partition notices are not errors.
    std::optional<Message> poll(std::chrono::milliseconds timeout = std::chrono::seconds{1});

    /// A range of messages for a range-for loop. Ends after `count` messages, on stop(), or on the first
    /// SIGINT/SIGTERM (within one `timeout`). Handlers for those two signals are installed while it lives and
    /// the previous ones restored when it is destroyed, also by an exception; concurrent streams share one
    /// installation.
    Stream stream(std::chrono::milliseconds timeout = std::chrono::seconds{1},
                  std::optional<std::size_t> count = std::nullopt);

    /// Ends the current stream at its next poll. Callable from any thread and from a signal handler.
    void stop() noexcept;
    /// Makes a poll() waiting in another thread return now with nothing (once; a poll that is not waiting
    /// returns at once the next time instead). For a loop that also waits on other work. Any thread.
    void wakeup() noexcept;

    /// Marks `msg` and everything before it in its partition as processed (synchronous commit).
    void commit(const Message& msg);
    /// Marks everything returned so far as processed (synchronous commit).
    void commit();

    /// Stops fetching from one partition (other partitions go on) until resume(); the next message after a
    /// resume is the one after the last returned. Throws KafkaConsumerError if librdkafka refuses.
    void pause(const std::string& topic, std::int32_t partition);
    /// Fetches again from a paused partition. Throws KafkaConsumerError if librdkafka refuses.
    void resume(const std::string& topic, std::int32_t partition);
    /// pause(tp.topic, tp.partition).
    void pause(const TopicPartition& tp) { pause(tp.topic, tp.partition); }
    /// resume(tp.topic, tp.partition).
    void resume(const TopicPartition& tp) { resume(tp.topic, tp.partition); }
    /// Commits `next_offset` (the offset the group resumes from: one past the last message processed) for one
    /// partition (synchronous). Throws KafkaConsumerError when the commit fails.
    void commit(const TopicPartition& tp, std::int64_t next_offset);
    /// Messages of `tp` not yet fetched by this consumer: the high watermark librdkafka last saw minus its
    /// fetch position (no request is made). Nothing when either is not known yet.
    std::optional<std::int64_t> lag(const TopicPartition& tp) const;
    /// The partitions assigned to this consumer now, as typed values (assignment() gives their names).
    std::vector<TopicPartition> assigned_partitions() const;

    /// Polls until partitions are assigned to this consumer (messages that arrive meanwhile are kept for
    /// poll()); false if none within `timeout`. Useful before producing in "latest" mode.
    bool wait_for_assignment(std::chrono::milliseconds timeout);
    /// The partitions currently assigned, as "topic[partition]".
    std::vector<std::string> assignment() const;

    /// Leaves the group (committing first when auto-commit is on), within `timeout` even when the broker is
    /// gone. Idempotent; later calls raise KafkaConsumerError (client_closed). Callable from any thread, also
    /// while another thread is inside a call (poll(), a stream, wait_for_assignment(), commit()): close()
    /// wakes it and waits for it to return first; it ends with KafkaConsumerError (client_closed), or a poll
    /// with the message it had already fetched (handed over, so committed by this close).
    void close(std::chrono::milliseconds timeout = std::chrono::seconds{10});

    /// The consumer group (given, or the unique one made for it).
    const std::string& group_id() const;
    /// True when until_gps is set and every partition assigned to this consumer has reached it (see
    /// ConsumerOptions::until_gps): nothing more will come. False before any partition is assigned.
    bool replay_finished() const;
    /// The instance name topics are namespaced with.
    const std::string& instance_name() const;
    /// Claims of the token in use (empty when the protocol needs none).
    std::optional<TokenClaims> token_claims() const;

private:
    struct Impl;
    Impl& impl() const;
    std::unique_ptr<Impl> impl_;
    friend struct detail_consumer_peer;  // the library's internal tests only; not part of the API
};

/// The range returned by Consumer::stream(). Move-only; it must not outlive its consumer.
class GRACEDB_EXPORT Consumer::Stream {
public:
    /// An input iterator over the stream: each increment polls for the next message (a single pass).
    class iterator {
    public:
        using value_type = Message;              ///< What it yields.
        using difference_type = std::ptrdiff_t;  ///< For std::input_iterator.
        iterator() = default;                    ///< An end iterator.
        /// The current message (valid until the next increment).
        const Message& operator*() const { return *stream_->current_; }
        /// The current message's members.
        const Message* operator->() const { return &*stream_->current_; }
        /// Polls for the next message (may wait, see Consumer::stream()).
        iterator& operator++() {
            stream_->advance();
            return *this;
        }
        /// Polls for the next message.
        void operator++(int) { stream_->advance(); }
        /// True once the stream ended (count reached, stop(), a signal).
        friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

    private:
        bool at_end() const { return !stream_ || !stream_->current_; }
        friend class Stream;
        explicit iterator(Stream* s) : stream_{s} {}
        Stream* stream_ = nullptr;
    };

    /// Starts the stream: polls for the first message.
    iterator begin();
    /// The end of the stream (compared with an iterator).
    std::default_sentinel_t end() const { return {}; }

    /// Restores the signal handlers if this stream installed them.
    ~Stream();
    /// Takes over the other stream (and its signal installation).
    Stream(Stream&&) noexcept;
    Stream& operator=(Stream&&) = delete;
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    /// Why the stream ended: "count", "stop", "signal", "until" (every partition reached until_gps), or empty
    /// while running.
    const std::string& end_reason() const { return end_reason_; }

private:
    friend class Consumer;
    Stream(Consumer& consumer, std::chrono::milliseconds timeout, std::optional<std::size_t> count);
    void advance();

    Consumer* consumer_;
    std::chrono::milliseconds timeout_;
    std::optional<std::size_t> count_;
    std::size_t yielded_ = 0;
    bool started_ = false;
    bool owns_signals_ = false;
    std::optional<Message> current_;
    std::string end_reason_;
};

}  // namespace gracedb::kafka
