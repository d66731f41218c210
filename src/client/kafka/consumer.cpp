#include <gracedb/kafka/consumer.hpp>
#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/topics.hpp>
#include <gracedb/signals.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <cstdio>

#include "common/deadline.hpp"
#include "common/log.hpp"
#include "client/kafka/client.hpp"
#include "client/kafka/consumer_peer.hpp"
#include "client/kafka/consumer_replay.hpp"
#include "client/kafka/error_map.hpp"
#include "client/core/signals.hpp"

namespace gracedb::kafka {
using detail_errors::Op;

namespace {

using namespace std::chrono_literals;

// An ephemeral group id: readable (host, pid) and unique within the process (a counter) and across processes
// and restarts (the start time and a random part), so two consumers never share a group by accident.
std::string default_group_id() {
    static std::atomic<std::uint64_t> counter{0};
    static const std::string per_process = [] {
        std::random_device rd;
        char rnd[9];
        std::snprintf(rnd, sizeof rnd, "%08x", static_cast<unsigned>(rd()));
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch());
        return std::to_string(::getpid()) + "-" + std::to_string(ms.count()) + "-" + rnd;
    }();
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "unknown");
    return "gracedb-" + std::string{host} + "-" + per_process + "-" +
           std::to_string(counter.fetch_add(1, std::memory_order_relaxed) + 1);
}

// A blocking call's deadline: `timeout` from now (a negative one: no wait, as zero).
detail::Deadline within(std::chrono::milliseconds timeout) {
    return detail::Deadline::after(std::max(timeout, std::chrono::milliseconds::zero()));
}

Message convert(const rd_kafka_message_t* m) {
    Message out;
    out.topic = rd_kafka_topic_name(m->rkt);
    out.partition = m->partition;
    out.offset = m->offset;
    if (m->key) out.key = std::string(static_cast<const char*>(m->key), m->key_len);
    if (m->payload) out.value.assign(static_cast<const char*>(m->payload), m->len);
    rd_kafka_timestamp_type_t type;
    const auto ts = rd_kafka_message_timestamp(m, &type);
    if (type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts >= 0)
        out.timestamp = std::chrono::system_clock::time_point{std::chrono::milliseconds{ts}};
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
        const char* name;
        const void* val;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
            std::optional<std::string> v;
            if (val) v = std::string(static_cast<const char*>(val), size);
            out.headers.emplace_back(name, std::move(v));
        }
    }
    return out;
}

}  // namespace

nlohmann::json Message::json() const {
    try {
        return nlohmann::json::parse(value);
    } catch (const nlohmann::json::parse_error& e) {
        throw std::invalid_argument("the message at " + topic + "[" + std::to_string(partition) + "]@" +
                                    std::to_string(offset) + " is not JSON (" + e.what() +
                                    "); its raw bytes are in Message::value");
    }
}

struct GRACEDB_NO_EXPORT Consumer::Impl final : detail_client::ClientCore {
    ConsumerOptions options;
    std::string instance;
    std::string group;
    detail::KafkaHandle rk;
    std::atomic<bool> stop_flag{false};
    std::atomic<bool> wake_flag{false};  // wakeup(): the next empty poll returns at once
    detail_client::CallGate gate;  // close() from any thread: see CallGate (every use of rk holds a Use)
    std::deque<Message> buffered;  // read while waiting for an assignment (offsets stored when returned)
    std::uint64_t tls_mark = 0;    // connection events seen by the previous poll
    mutable std::mutex assignment_mutex;
    std::vector<TopicPartition> assigned;
    bool auto_commit = true;  // enable.auto.commit as librdkafka reads it
    // The next offset to commit per partition: one past the last message handed to the application (and
    // stored). close() commits these itself when auto-commit is on (see commit_on_close). Touched only by
    // the thread that polls and by the rebalance callback, which runs inside that thread's poll.
    std::map<std::pair<std::string, std::int32_t>, std::int64_t> handed;
    // Offsets handed over whose commit failed or was never made: a commit refused at a revoke (the member
    // fenced, "Unknown member", e.g. while the group's coordinator moved), which librdkafka 2.0.2 drops, or a
    // LOST assignment, for which it commits nothing (rd_kafka_cgrp_assigned_offsets_commit skips it, and its
    // auto-commit timer does not run during the rejoin). It would then fetch those partitions again from the
    // old committed offset. When such a partition is assigned to this member again (the next assignment),
    // fetching resumes after what was handed over and that offset is committed (and stored: the auto-commit
    // timer retries a failed commit); partitions that went to another member are given up, with a warning.
    // Thread: as `handed` (offset_commit_cb and the rebalance callback run inside this consumer's poll).
    std::map<std::pair<std::string, std::int32_t>, std::int64_t> handed_before_loss;
    std::unique_ptr<detail_replay::Replay> replay;  // since_gps / until_gps (consumer_replay.hpp)
    // close(): one closer at a time. A close the interrupt hook ended keeps its progress here for the next
    // close() or the destructor: the calls inside drained, the commit at close made, the group being left.
    std::timed_mutex close_mutex;
    bool close_begun = false;
    bool close_committed = false;
    detail::KafkaQueue close_queue;  // rd_kafka_consumer_close_queue's, while the group is being left
    bool close_refused = false;      // librdkafka refused to start leaving the group
    bool close_done = false;

    explicit Impl(ConsumerOptions o) : options{std::move(o)} {
        instance = detail_client::resolve_instance(options.instance_name, options.service_url);
        if (options.auto_offset_reset != "latest" && options.auto_offset_reset != "earliest")
            throw std::invalid_argument("auto_offset_reset must be \"latest\" or \"earliest\", not \"" +
                                        options.auto_offset_reset + "\"");
        replay = detail_replay::Replay::from(options);
        group = options.group_id ? *options.group_id : default_group_id();
        if (group.empty()) throw std::invalid_argument("group_id is empty: leave it unset for a unique one");
        std::map<std::string, std::string> defaults = {
            {"group.id", group},
            {"auto.offset.reset", options.auto_offset_reset},
            {"enable.partition.eof", "false"},
            // At-least-once: an offset is stored (and so committed) only for a message handed to the
            // application, never for one librdkafka fetched and we did not return (librdkafka's advice).
            {"enable.auto.offset.store", "false"},
            // A topic that appears after subscribe() (or a new pipeline, for pattern subscriptions) is seen
            // within seconds rather than librdkafka's default 5 minutes.
            {"topic.metadata.refresh.interval.ms", "5000"},
        };
        auto conf = configure(detail_client::common_options(options), defaults, "consumer");
        rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::on_rebalance);
        rd_kafka_conf_set_offset_commit_cb(conf.get(), &Impl::on_commit);
        char value[16] = {};
        std::size_t size = sizeof value;
        if (rd_kafka_conf_get(conf.get(), "enable.auto.commit", value, &size) == RD_KAFKA_CONF_OK)
            auto_commit = std::strcmp(value, "true") == 0;
        rk = create(RD_KAFKA_CONSUMER, std::move(conf));
        rd_kafka_poll_set_consumer(rk.get());
        if (!options.topics.empty()) subscribe_topics(options.topics);
    }

    ~Impl() override {
        try {
            close_within(10s, false);
        } catch (...) {
        }
    }

    static constexpr auto kSlice = 100ms;  // the longest wait between two calls of the interrupt hook
    static int slice_ms(const detail::Deadline& d) { return static_cast<int>(d.slice(kSlice).count()); }

    static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                             void* opaque) {
        try {
            auto* self = static_cast<Impl*>(static_cast<detail_client::ClientCore*>(opaque));
            const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
            std::vector<TopicPartition> names;
            for (int i = 0; i < parts->cnt; ++i) names.push_back({parts->elems[i].topic, parts->elems[i].partition});
            if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                const int resumed = self->resume_after_loss(parts);
                if (self->replay) self->replay->on_assign(rk, parts, self->options.auto_offset_reset);
                if (cooperative) {
                    if (auto* e = rd_kafka_incremental_assign(rk, parts)) rd_kafka_error_destroy(e);
                } else {
                    rd_kafka_assign(rk, parts);
                }
                if (resumed > 0 || !self->handed_before_loss.empty()) self->commit_resumed(parts);
                if (self->replay) self->replay->after_assign(rk, parts);
                std::lock_guard lock{self->assignment_mutex};
                if (!cooperative) self->assigned.clear();
                self->assigned.insert(self->assigned.end(), names.begin(), names.end());
            } else {
                if (cooperative) {
                    if (auto* e = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(e);
                } else {
                    rd_kafka_assign(rk, nullptr);
                }
                // librdkafka commits the stored offsets of revoked partitions itself (auto-commit); after a
                // revoke they may belong to another member, whose progress close() must not overwrite.
                const bool lost = rd_kafka_assignment_lost(rk);
                for (int i = 0; i < parts->cnt; ++i) {
                    const auto it = self->handed.find({parts->elems[i].topic, parts->elems[i].partition});
                    if (it == self->handed.end()) continue;
                    // Only when this consumer owns the commits (auto-commit): with manual commits, what was
                    // handed over is not what was done (the supervisor holds jobs it has not finished), so
                    // the partition must come back at the application's last commit, not after `handed`.
                    if (lost && self->auto_commit) self->handed_before_loss[it->first] = it->second;
                    self->handed.erase(it);
                }
                std::lock_guard lock{self->assignment_mutex};
                if (!cooperative) {
                    self->assigned.clear();
                } else {
                    for (const auto& n : names) std::erase(self->assigned, n);
                }
            }
            gracedb::detail::log_info(std::string{"Kafka consumer group "} + self->group +
                                      (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? ": assigned " : ": revoked ") +
                                      std::to_string(names.size()) + " partition(s)");
        } catch (...) {
        }
    }

    // librdkafka's offset_commit_cb (inside this consumer's poll): the results of auto-commits and of the
    // commits of commit_resumed(); failures are kept (see handed_before_loss) and logged with what failed.
    static void on_commit(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
                          void* opaque) {
        try {
            auto* self = static_cast<Impl*>(static_cast<detail_client::ClientCore*>(opaque));
            if (!offsets || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
            // Manual commits (enable.auto.commit=false) are the application's: commit() reports their
            // failures to it, and nothing is resumed or committed behind its back.
            if (!self->auto_commit) return;
            std::string failed;
            rd_kafka_resp_err_t first = RD_KAFKA_RESP_ERR_NO_ERROR;
            for (int i = 0; i < offsets->cnt; ++i) {
                const auto& e = offsets->elems[i];
                if (e.offset < 0) continue;
                const auto key = std::make_pair(std::string{e.topic}, e.partition);
                const auto code = err ? err : e.err;
                auto& kept = self->handed_before_loss;
                if (!code) {
                    if (auto it = kept.find(key); it != kept.end() && it->second <= e.offset) kept.erase(it);
                    continue;
                }
                kept[key] = std::max(kept.count(key) ? kept[key] : e.offset, e.offset);
                if (!first) first = code;
                failed += " " + key.first + "[" + std::to_string(e.partition) + "]@" +
                          std::to_string(e.offset);
            }
            if (!failed.empty())
                gracedb::detail::log_warning("Kafka consumer group " + self->group + ": commit of" + failed +
                                             " failed (" + rd_kafka_err2name(first) +
                                             "); retried, and committed if the partition is assigned again");
        } catch (...) {
        }
    }

    // In the rebalance callback, before assigning `parts`: partitions handed over before their assignment was
    // lost start after what was handed (their offset in `parts`). Returns how many.
    int resume_after_loss(rd_kafka_topic_partition_list_t* parts) {
        if (handed_before_loss.empty()) return 0;
        int n = 0;
        for (int i = 0; i < parts->cnt; ++i) {
            const auto it = handed_before_loss.find({parts->elems[i].topic, parts->elems[i].partition});
            if (it == handed_before_loss.end()) continue;
            parts->elems[i].offset = it->second;
            ++n;
        }
        return n;
    }
    // After assigning `parts`: commits (asynchronously) and stores the resumed offsets; a failed commit is
    // retried by the auto-commit timer (the offset is stored) and logged (on_commit, with the partition and
    // offset); close() commits them too (`handed`). What is left (another member's now) is given up.
    void commit_resumed(const rd_kafka_topic_partition_list_t* parts) {
        detail::PartitionList list{rd_kafka_topic_partition_list_new(parts->cnt)};
        std::string what;
        for (int i = 0; i < parts->cnt; ++i) {
            const auto key = std::make_pair(std::string{parts->elems[i].topic}, parts->elems[i].partition);
            const auto it = handed_before_loss.find(key);
            if (it == handed_before_loss.end()) continue;
            rd_kafka_topic_partition_list_add(list.get(), key.first.c_str(), key.second)->offset = it->second;
            handed[key] = it->second;
            what += " " + key.first + "[" + std::to_string(key.second) + "]@" + std::to_string(it->second);
            handed_before_loss.erase(it);
        }
        {
            // Still assigned (an incremental assignment of other partitions): kept for the timer's retry.
            std::lock_guard lock{assignment_mutex};
            for (auto it = handed_before_loss.begin(); it != handed_before_loss.end();) {
                if (std::find(assigned.begin(), assigned.end(),
                              TopicPartition{it->first.first, it->first.second}) != assigned.end()) {
                    ++it;
                    continue;
                }
                gracedb::detail::log_warning("Kafka consumer group " + group + ": gave up committing " +
                                             it->first.first + "[" + std::to_string(it->first.second) + "]@" +
                                             std::to_string(it->second) + ": the partition went to another "
                                             "member, which reads from the last commit on again");
                it = handed_before_loss.erase(it);
            }
        }
        if (list->cnt == 0) return;
        if (auto err = rd_kafka_offsets_store(rk.get(), list.get()))
            gracedb::detail::log_debug(std::string{"Kafka consumer: resumed offsets not stored ("} +
                                       rd_kafka_err2name(err) + ")");
        if (auto err = rd_kafka_commit(rk.get(), list.get(), 1 /* async */))
            gracedb::detail::log_warning("Kafka consumer group " + group + ": cannot commit" + what + " (" +
                                         rd_kafka_err2name(err) + "); the auto-commit timer retries");
        gracedb::detail::log_info("Kafka consumer group " + group + ": assigned again, resuming after what "
                                  "was handed over before the revoke, and committing:" + what);
    }

    [[noreturn]] static void throw_closed() {
        detail_errors::throw_kafka_error(Errc::client_closed,
                                         "the Kafka consumer is closed: create a new one", Op::consume);
    }
    /// Holds rk for one call; raises KafkaConsumerError (client_closed) once close() began.
    struct Use : detail_client::CallGate::Call {
        explicit Use(Impl& im) : Call{im.gate, &Impl::throw_closed} {}
    };

    void subscribe_topics(const std::vector<std::string>& pipelines) {
        Use use{*this};
        if (pipelines.empty()) throw std::invalid_argument("subscribe() needs at least one pipeline name");
        detail::PartitionList list{rd_kafka_topic_partition_list_new(static_cast<int>(pipelines.size()))};
        for (const auto& p : pipelines) {
            const auto topic = p.starts_with('^') ? p : make_topic_name(instance, p);
            rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
        }
        if (auto err = rd_kafka_subscribe(rk.get(), list.get()))
            detail_errors::throw_kafka_error(err, std::string{"cannot subscribe: "} + rd_kafka_err2str(err),
                                             Op::consume);
    }

    // Hands `msg` to the application: stores its offset (committed by auto-commit, commit() or close()).
    Message hand_over(Message msg) {
        detail::PartitionList list{rd_kafka_topic_partition_list_new(1)};
        rd_kafka_topic_partition_list_add(list.get(), msg.topic.c_str(), msg.partition)->offset = msg.offset + 1;
        auto err = rd_kafka_offsets_store(rk.get(), list.get());
        if (!err) err = list->elems[0].err;
        if (err)
            gracedb::detail::log_debug(std::string{"Kafka consumer: offset not stored ("} + rd_kafka_err2name(err) +
                                       "): the partition was revoked; the message may come again");
        else
            handed[{msg.topic, msg.partition}] = msg.offset + 1;
        return msg;
    }

    // Raises what will not heal by waiting: a fatal error, an authentication refusal, a TLS failure seen
    // since `mark`. Called only when no message is at hand, so that a fetched message is never dropped.
    void raise_unhealing(std::uint64_t mark) {
        raise_pending();
        if (auto e = connection_failure_since(mark, true)) std::rethrow_exception(e);
    }

    // Between two slices of a blocking wait: ConsumerOptions::interrupt, whose exception ends the wait.
    void between_slices() const {
        if (options.interrupt) options.interrupt();
    }

    // One message from librdkafka, or nothing by the deadline. Errors are classified here. A message that
    // was fetched is always returned: errors (and the interrupt hook's exception) wait for the next call.
    std::optional<Message> poll_until(const detail::Deadline& deadline) {
        Use use{*this};
        if (replay) replay->raise();
        while (!buffered.empty()) {
            Message m = std::move(buffered.front());
            buffered.pop_front();
            if (!replay || replay->admit(rk.get(), m)) return hand_over(std::move(m));
        }
        for (bool first = true;; first = false) {
            if (!first) {
                if (deadline.expired() || stop_flag.load() || StopSignals::received()) return std::nullopt;
                between_slices();
            }
            if (replay_finished()) return std::nullopt;
            detail::KafkaMessage m{rd_kafka_consumer_poll(rk.get(), slice_ms(deadline))};
            if (m && !m->err) {
                auto msg = convert(m.get());
                if (replay && !replay->admit(rk.get(), msg)) continue;  // past until_gps: not handed over
                return hand_over(std::move(msg));
            }
            raise_unhealing(tls_mark);
            tls_mark = connection_events();
            if (!m && replay) {
                replay->idle(rk.get());
                replay->raise();
            }
            if (!m) {
                if (gate.closing()) throw_closed();  // close() woke this poll: it ends here
                if (stop_flag.load() || StopSignals::received() || wake_flag.exchange(false)) return std::nullopt;
                continue;
            }
            const auto err = m->err;
            const std::string what = rd_kafka_message_errstr(m.get());
            switch (err) {
                case RD_KAFKA_RESP_ERR__PARTITION_EOF: continue;
                case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
                case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
                case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
                    gracedb::detail::log_debug("Kafka consumer: " + what + " (waiting for the topic to appear)");
                    continue;
                case RD_KAFKA_RESP_ERR__TRANSPORT:
                case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
                case RD_KAFKA_RESP_ERR__TIMED_OUT:
                    gracedb::detail::log_info("Kafka consumer: " + what + " (librdkafka retries)");
                    continue;
                default:
                    if (err == RD_KAFKA_RESP_ERR__FATAL) raise_pending();
                    // Authentication and authorization failures are KafkaAuthenticationError (with their code).
                    detail_errors::throw_kafka_error(err, std::string{"Kafka consumer refused or failed ("} +
                                                              rd_kafka_err2name(err) + "): " + what,
                                                     Op::consume);
            }
        }
    }

    bool replay_finished() const {
        if (!replay) return false;
        std::lock_guard lock{assignment_mutex};
        return replay->finished(assigned);
    }

    void commit_list(rd_kafka_topic_partition_list_t* list) {
        Use use{*this};
        const auto err = rd_kafka_commit(rk.get(), list, 0);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
        detail_errors::throw_kafka_error(err, std::string{"commit failed: "} + rd_kafka_err2str(err), Op::consume);
    }

    // One asynchronous commit of `list`, waited for until `deadline`: its error (the first partition's when
    // the request as a whole succeeded), or __TIMED_OUT when no result came in time.
    // `between` runs between the slices of the wait.
    rd_kafka_resp_err_t commit_and_wait(const rd_kafka_topic_partition_list_t* list,
                                        const detail::Deadline& deadline, const std::function<void()>& between) {
        detail::KafkaQueue queue{rd_kafka_queue_new(rk.get())};
        if (auto err = rd_kafka_commit_queue(rk.get(), list, queue.get(), nullptr, nullptr)) return err;
        for (bool first = true; !deadline.expired(); first = false) {
            if (!first) between();
            detail::KafkaEvent ev{rd_kafka_queue_poll(queue.get(), slice_ms(deadline))};
            if (!ev || rd_kafka_event_type(ev.get()) != RD_KAFKA_EVENT_OFFSET_COMMIT) continue;
            if (auto err = rd_kafka_event_error(ev.get())) return err;
            if (const auto* res = rd_kafka_event_topic_partition_list(ev.get()))
                for (int i = 0; i < res->cnt; ++i)
                    if (res->elems[i].err) return res->elems[i].err;
            return RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        return RD_KAFKA_RESP_ERR__TIMED_OUT;
    }

    static bool commit_retriable(rd_kafka_resp_err_t err) {
        switch (err) {
            case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
            case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
            case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
            case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
            case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
            case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:   // fenced (e.g. the session timed out while the
            case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:  // coordinator moved): librdkafka rejoins
            case RD_KAFKA_RESP_ERR__WAIT_COORD:
            case RD_KAFKA_RESP_ERR__TRANSPORT:
            case RD_KAFKA_RESP_ERR__TIMED_OUT:
                return true;
            default:
                return false;
        }
    }

    // With auto-commit on, commits what was handed to the application before the consumer leaves its group,
    // retrying until `deadline`. librdkafka 2.0.2 makes one attempt at close (the commit of the revoked
    // partitions' stored offsets) and drops it when it fails (e.g. "Unknown member" after a coordinator
    // failover fenced the member, or a rebalance in progress): the group then resumes from older offsets and
    // replays everything since. Returns false, after logging an error, when it could not commit. `between`
    // runs between the slices of its waits (its exception ends the commit: a later close commits again).
    bool commit_on_close(const detail::Deadline& deadline, const std::function<void()>& between) {
        if (!auto_commit) return true;
        detail::PartitionList list{rd_kafka_topic_partition_list_new(static_cast<int>(handed.size()) + 1)};
        for (const auto& [tp, offset] : handed)
            rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second)->offset = offset;
        if (list->cnt == 0) return true;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        int attempts = 0;
        for (;;) {
            ++attempts;
            err = commit_and_wait(list.get(), deadline, between);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (attempts > 1)
                    gracedb::detail::log_info("Kafka consumer group " + group + ": offsets committed at close after " +
                                              std::to_string(attempts) + " attempts");
                return true;
            }
            if (!commit_retriable(err) || deadline.expired()) break;
            gracedb::detail::log_info("Kafka consumer group " + group + ": commit at close failed (" +
                                      rd_kafka_err2name(err) + "); retrying");
            // Serves the group meanwhile (a rejoin after "Unknown member" or "Illegal generation" runs the
            // rebalance callback); a message fetched now is not handed over and its offset is not stored.
            const bool fenced =
                err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION;
            auto has_assignment = [&] {
                std::lock_guard lock{assignment_mutex};
                return !assigned.empty();
            };
            const auto pause = detail::Deadline::after(500ms);
            for (bool first = true; !deadline.expired() && (!pause.expired() || (fenced && !has_assignment()));
                 first = false) {
                if (!first) between();
                detail::KafkaMessage m{rd_kafka_consumer_poll(rk.get(), std::max(1, slice_ms(deadline)))};
            }
            if (fenced && !has_assignment()) break;  // not back in the group by the deadline
            if (fenced) {
                // Rejoined: commit only for the partitions this member has again (others may now be another
                // member's, whose progress must not be overwritten; that member reads them from our last
                // committed offsets).
                std::vector<TopicPartition> now;
                {
                    std::lock_guard lock{assignment_mutex};
                    now = assigned;
                }
                detail::PartitionList mine{rd_kafka_topic_partition_list_new(list->cnt)};
                for (int i = 0; i < list->cnt; ++i) {
                    const auto& e = list->elems[i];
                    if (std::find(now.begin(), now.end(), TopicPartition{e.topic, e.partition}) != now.end())
                        rd_kafka_topic_partition_list_add(mine.get(), e.topic, e.partition)->offset = e.offset;
                }
                if (mine->cnt < list->cnt)
                    gracedb::detail::log_warning("Kafka consumer group " + group + ": " +
                                                 std::to_string(list->cnt - mine->cnt) +
                                                 " partition(s) moved to another member before close could commit "
                                                 "them: their messages since the last commit will be read again");
                list = std::move(mine);
                if (list->cnt == 0) return false;
            }
        }
        std::string offsets;
        for (int i = 0; i < list->cnt; ++i)
            offsets += std::string{i ? ", " : ""} + list->elems[i].topic + "[" +
                       std::to_string(list->elems[i].partition) + "]@" + std::to_string(list->elems[i].offset);
        gracedb::detail::log_error("Kafka consumer group " + group + ": could not commit at close (" +
                                   rd_kafka_err2name(err) + ": " + rd_kafka_err2str(err) + ", " +
                                   std::to_string(attempts) + " attempt(s)): " + offsets +
                                   "; a consumer of this group will receive these partitions' messages again from "
                                   "the last committed offsets");
        return false;
    }

    // The interrupt hook's exception, carried through close's own error handling.
    struct Interrupted {
        std::exception_ptr error;
    };

    // Closes within `timeout`. `interruptible` (close(), not the destructor): the interrupt hook runs between
    // the slices of its waits, and its exception, raised here, leaves the close unfinished: its progress is
    // kept, and the next close() (or the destructor) finishes it.
    void close_within(std::chrono::milliseconds timeout, bool interruptible) {
        const auto deadline = within(timeout);
        const std::function<void()> between = [this, interruptible] {
            if (!interruptible || !options.interrupt) return;
            try {
                options.interrupt();
            } catch (...) {
                throw Interrupted{std::current_exception()};
            }
        };
        std::unique_lock lock{close_mutex, std::defer_lock};
        while (!lock.try_lock_for(kSlice)) {
            if (interruptible && options.interrupt) options.interrupt();  // another thread is closing
        }
        if (close_done) return;  // closed already (or by another thread, which has finished)
        std::exception_ptr interrupted;
        try {
            leave_group(timeout, deadline, between);
        } catch (const Interrupted& i) {
            interrupted = i.error;
        } catch (...) {
        }
        if (interrupted) std::rethrow_exception(interrupted);
        close_done = true;
        gate.end_close();
    }

    // close_within's steps; each one done is not done again by a close() that continues an interrupted one.
    void leave_group(std::chrono::milliseconds timeout, const detail::Deadline& deadline,
                     const std::function<void()>& between) {
        if (!close_begun) {
            gate.begin_close();  // the first: only close_within calls it, under close_mutex
            // A call inside (a poll in another thread) ends first: woken, it raises client_closed.
            detail::KafkaQueue consumer_queue{rk ? rd_kafka_queue_get_consumer(rk.get()) : nullptr};
            gate.wait_idle([&] {
                if (consumer_queue) rd_kafka_queue_yield(consumer_queue.get());
            });
            close_begun = true;
        }  // the consumer queue is released before the consumer closes (librdkafka's rule for this queue)
        if (!rk) return;
        if (!close_committed) {
            commit_on_close(within(timeout * 3 / 4), between);
            close_committed = true;
        }
        if (!close_queue) {
            close_queue.reset(rd_kafka_queue_new(rk.get()));
            detail::KafkaErrorObject error{rd_kafka_consumer_close_queue(rk.get(), close_queue.get())};
            close_refused = !!error;
        }
        bool done = close_refused;
        for (bool first = true; !done && !deadline.expired(); first = false) {
            if (!first) between();
            // Serves the rebalance (revoke) event of the close and waits for it to complete.
            detail::KafkaEvent ev{rd_kafka_queue_poll(close_queue.get(), slice_ms(deadline))};
            if (ev && rd_kafka_event_type(ev.get()) == RD_KAFKA_EVENT_REBALANCE) {
                if (std::strcmp(rd_kafka_rebalance_protocol(rk.get()), "COOPERATIVE") == 0) {
                    if (auto* e = rd_kafka_incremental_unassign(rk.get(), rd_kafka_event_topic_partition_list(ev.get())))
                        rd_kafka_error_destroy(e);
                } else {
                    rd_kafka_assign(rk.get(), nullptr);
                }
            }
            done = rd_kafka_consumer_closed(rk.get());
        }
        if (!done)
            gracedb::detail::log_warning("Kafka consumer: close did not complete within " +
                                         std::to_string(timeout.count()) + " ms (broker unreachable?); abandoning the group");
        close_queue.reset();
        rd_kafka_destroy_flags(rk.release(), done ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
};

Consumer::Consumer(ConsumerOptions options) : impl_{std::make_unique<Impl>(std::move(options))} {}
Consumer::~Consumer() = default;
Consumer::Consumer(Consumer&&) noexcept = default;
Consumer& Consumer::operator=(Consumer&&) noexcept = default;

Consumer::Impl& Consumer::impl() const {
    if (!impl_) throw std::logic_error("use of a moved-from gracedb::kafka::Consumer");
    return *impl_;
}

void Consumer::subscribe(std::string_view pipeline) { impl().subscribe_topics({std::string{pipeline}}); }
void Consumer::subscribe(std::initializer_list<std::string_view> pipelines) {
    impl().subscribe_topics(std::vector<std::string>(pipelines.begin(), pipelines.end()));
}
void Consumer::subscribe(const std::vector<std::string>& pipelines) { impl().subscribe_topics(pipelines); }
void Consumer::subscribe_all() { impl().subscribe_topics({"^" + impl().instance + "\\..*"}); }

std::optional<Message> Consumer::poll(std::chrono::milliseconds timeout) {
    auto& im = impl();
    return im.poll_until(within(timeout));
}

void Consumer::stop() noexcept {
    if (impl_) impl_->stop_flag.store(true);
}

void Consumer::wakeup() noexcept {
    if (!impl_ || !impl_->gate.try_enter()) return;  // closed (or closing): nothing to wake
    impl_->wake_flag.store(true);
    // rd_kafka_consumer_poll waits on the consumer queue; yielding it makes that wait return now.
    if (rd_kafka_queue_t* q = rd_kafka_queue_get_consumer(impl_->rk.get())) {
        rd_kafka_queue_yield(q);
        rd_kafka_queue_destroy(q);
    }
    impl_->gate.leave();
}

void Consumer::commit(const Message& msg) {
    detail::PartitionList list{rd_kafka_topic_partition_list_new(1)};
    rd_kafka_topic_partition_list_add(list.get(), msg.topic.c_str(), msg.partition)->offset = msg.offset + 1;
    impl().commit_list(list.get());
}

void Consumer::commit() { impl().commit_list(nullptr); }

void Consumer::pause(const std::string& topic, std::int32_t partition) {
    Impl::Use use{impl()};
    detail::PartitionList list{rd_kafka_topic_partition_list_new(1)};
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition);
    if (auto err = rd_kafka_pause_partitions(impl().rk.get(), list.get()))
        detail_errors::throw_kafka_error(
            err, "cannot pause " + topic + "[" + std::to_string(partition) + "]: " + rd_kafka_err2str(err), Op::consume);
}

void Consumer::resume(const std::string& topic, std::int32_t partition) {
    Impl::Use use{impl()};
    detail::PartitionList list{rd_kafka_topic_partition_list_new(1)};
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition);
    if (auto err = rd_kafka_resume_partitions(impl().rk.get(), list.get()))
        detail_errors::throw_kafka_error(
            err, "cannot resume " + topic + "[" + std::to_string(partition) + "]: " + rd_kafka_err2str(err), Op::consume);
}

bool Consumer::wait_for_assignment(std::chrono::milliseconds timeout) {
    auto& im = impl();
    Impl::Use use{im};
    const auto deadline = within(timeout);
    auto has_assignment = [&] {
        std::lock_guard lock{im.assignment_mutex};
        return !im.assigned.empty();
    };
    for (bool first = true; !has_assignment() && !deadline.expired(); first = false) {
        if (!first) im.between_slices();  // a message fetched meanwhile is in `buffered`, kept for poll()
        if (im.gate.closing()) Impl::throw_closed();  // close() began while this call waited
        detail::KafkaMessage m{rd_kafka_consumer_poll(im.rk.get(), Impl::slice_ms(deadline))};
        if (m && !m->err) {
            // Kept for poll(), which stores its offset when it returns it (a close before that leaves it
            // uncommitted); a pending error waits for a call with no message at hand.
            im.buffered.push_back(convert(m.get()));
            continue;
        }
        im.raise_pending();
    }
    if (!has_assignment()) return false;
    if (im.options.auto_offset_reset != "latest" || im.replay) return true;  // replay: since_gps placed them
    // "latest" means: from what exists when this returns. librdkafka resolves the end offset lazily, after the
    // assignment, so a message produced right now could fall before it. Pin partitions that have no committed
    // offset to their current end.
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(im.rk.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return true;
    detail::PartitionList parts{raw};
    const int left = std::max(1000, deadline.rd_timeout_ms());
    if (rd_kafka_committed(im.rk.get(), parts.get(), left) != RD_KAFKA_RESP_ERR_NO_ERROR) return true;
    detail::PartitionList seek{rd_kafka_topic_partition_list_new(parts->cnt)};
    for (int i = 0; i < parts->cnt; ++i) {
        const auto& p = parts->elems[i];
        if (p.offset >= 0) continue;  // the group has a position there: keep it
        int64_t low = 0, high = 0;
        if (rd_kafka_query_watermark_offsets(im.rk.get(), p.topic, p.partition, &low, &high, left) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
            rd_kafka_topic_partition_list_add(seek.get(), p.topic, p.partition)->offset = high;
    }
    if (seek->cnt > 0)
        if (rd_kafka_error_t* e = rd_kafka_seek_partitions(im.rk.get(), seek.get(), left)) rd_kafka_error_destroy(e);
    return true;
}

std::vector<std::string> Consumer::assignment() const {
    std::vector<std::string> names;
    for (const auto& tp : assigned_partitions()) names.push_back(tp.to_string());
    return names;
}

std::vector<TopicPartition> Consumer::assigned_partitions() const {
    auto& im = impl();
    std::lock_guard lock{im.assignment_mutex};
    return im.assigned;
}

std::optional<std::int64_t> Consumer::lag(const TopicPartition& tp) const {
    auto& im = impl();
    Impl::Use use{im};
    std::int64_t low = -1, high = -1;
    if (rd_kafka_get_watermark_offsets(im.rk.get(), tp.topic.c_str(), tp.partition, &low, &high) ||
        high < 0)
        return std::nullopt;
    detail::PartitionList list{rd_kafka_topic_partition_list_new(1)};
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
    if (rd_kafka_position(im.rk.get(), list.get()) || list->elems[0].offset < 0) return std::nullopt;
    return std::max<std::int64_t>(0, high - list->elems[0].offset);
}

void Consumer::commit(const TopicPartition& tp, std::int64_t next_offset) {
    detail::PartitionList list{rd_kafka_topic_partition_list_new(1)};
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = next_offset;
    impl().commit_list(list.get());
}

void Consumer::close(std::chrono::milliseconds timeout) { impl().close_within(timeout, true); }

rd_kafka_t* detail_consumer_peer::handle(Consumer& consumer) { return consumer.impl().rk.get(); }
std::size_t detail_consumer_peer::buffered(const Consumer& consumer) { return consumer.impl().buffered.size(); }

const std::string& Consumer::group_id() const { return impl().group; }
bool Consumer::replay_finished() const { return impl().replay_finished(); }
const std::string& Consumer::instance_name() const { return impl().instance; }
std::optional<TokenClaims> Consumer::token_claims() const {
    if (auto& t = impl().tokens()) return t->claims();
    return std::nullopt;
}

Consumer::Stream Consumer::stream(std::chrono::milliseconds timeout, std::optional<std::size_t> count) {
    impl().stop_flag.store(false);
    return Stream{*this, timeout, count};
}

Consumer::Stream::Stream(Consumer& consumer, std::chrono::milliseconds timeout, std::optional<std::size_t> count)
    : consumer_{&consumer}, timeout_{timeout}, count_{count} {
    gracedb::detail::acquire_stop_signals();
    owns_signals_ = true;
}

Consumer::Stream::Stream(Stream&& other) noexcept
    : consumer_{other.consumer_},
      timeout_{other.timeout_},
      count_{other.count_},
      yielded_{other.yielded_},
      started_{other.started_},
      owns_signals_{std::exchange(other.owns_signals_, false)},
      current_{std::move(other.current_)},
      end_reason_{std::move(other.end_reason_)} {}

Consumer::Stream::~Stream() {
    if (owns_signals_) gracedb::detail::release_stop_signals();
}

Consumer::Stream::iterator Consumer::Stream::begin() {
    if (!started_) {
        started_ = true;
        advance();
    }
    return iterator{this};
}

void Consumer::Stream::advance() {
    current_.reset();
    auto& im = consumer_->impl();
    for (bool first = true;; first = false) {
        if (count_ && yielded_ >= *count_) {
            end_reason_ = "count";
            return;
        }
        if (im.stop_flag.load()) {
            end_reason_ = "stop";
            return;
        }
        if (StopSignals::received()) {
            end_reason_ = "signal";
            return;
        }
        if (im.replay_finished()) {
            end_reason_ = "until";
            return;
        }
        if (!first) im.between_slices();  // polls of no time or of less than a slice
        if (auto m = im.poll_until(within(timeout_))) {
            current_ = std::move(m);
            ++yielded_;
            return;
        }
    }
}

}  // namespace gracedb::kafka
