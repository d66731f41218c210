// The consumer's commits: the application's (commit()), the results of librdkafka's auto-commits, the offsets
// kept across a fenced member or a lost assignment (committed when the partition comes back), and the commit
// at close, retried within its deadline.
#include <gracedb/kafka/consumer.hpp>
#include <gracedb/kafka/errors.hpp>

#include <algorithm>

#include "common/log.hpp"
#include "client/kafka/consumer_impl.hpp"
#include "client/kafka/error_map.hpp"

namespace gracedb::kafka {
using detail_consumer::at_offset;
using detail_consumer::partition_of;
using detail_errors::Op;

namespace {

bool commit_retriable(rd_kafka_resp_err_t err) {
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

// "topic[0]@5, topic[1]@7": the offsets of `list`, for logs.
std::string offsets_of(const rd_kafka_topic_partition_list_t* list) {
    std::string text;
    for (int i = 0; i < list->cnt; ++i)
        text += std::string{i ? ", " : ""} + at_offset(partition_of(list->elems[i]), list->elems[i].offset);
    return text;
}

}  // namespace

// librdkafka's offset_commit_cb (inside this consumer's poll): the results of auto-commits and of the
// commits of commit_resumed(); failures are kept (see handed_before_loss) and logged with what failed.
void Consumer::Impl::on_commit(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
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
            const auto tp = partition_of(e);
            const auto code = err ? err : e.err;
            auto& kept = self->handed_before_loss;
            if (!code) {
                if (auto it = kept.find(tp); it != kept.end() && it->second <= e.offset) kept.erase(it);
                continue;
            }
            kept[tp] = std::max(kept.count(tp) ? kept[tp] : e.offset, e.offset);
            if (!first) first = code;
            failed += " " + at_offset(tp, e.offset);
        }
        if (!failed.empty())
            gracedb::detail::log_warning("Kafka consumer group " + self->group + ": commit of" + failed +
                                         " failed (" + rd_kafka_err2name(first) +
                                         "); retried, and committed if the partition is assigned again");
    } catch (...) {
    }
}

// After assigning `parts`: commits (asynchronously) and stores the resumed offsets; a failed commit is
// retried by the auto-commit timer (the offset is stored) and logged (on_commit, with the partition and
// offset); close() commits them too (`handed`). What is left (another member's now) is given up.
void Consumer::Impl::commit_resumed(const rd_kafka_topic_partition_list_t* parts) {
    detail::PartitionList list{rd_kafka_topic_partition_list_new(parts->cnt)};
    std::string what;
    for (int i = 0; i < parts->cnt; ++i) {
        const auto tp = partition_of(parts->elems[i]);
        const auto it = handed_before_loss.find(tp);
        if (it == handed_before_loss.end()) continue;
        rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = it->second;
        handed[tp] = it->second;
        what += " " + at_offset(tp, it->second);
        handed_before_loss.erase(it);
    }
    {
        // Still assigned (an incremental assignment of other partitions): kept for the timer's retry.
        std::lock_guard lock{assignment_mutex};
        for (auto it = handed_before_loss.begin(); it != handed_before_loss.end();) {
            if (std::find(assigned.begin(), assigned.end(), it->first) != assigned.end()) {
                ++it;
                continue;
            }
            gracedb::detail::log_warning("Kafka consumer group " + group + ": gave up committing " +
                                         at_offset(it->first, it->second) + ": the partition went to another "
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

void Consumer::Impl::commit_list(rd_kafka_topic_partition_list_t* list) {
    Use use{*this};
    const auto err = rd_kafka_commit(rk.get(), list, 0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    detail_errors::throw_kafka_error(err, std::string{"commit failed: "} + rd_kafka_err2str(err),
                                     Op::consume);
}

// One asynchronous commit of `list`, waited for until `deadline`: its error (the first partition's when
// the request as a whole succeeded), or __TIMED_OUT when no result came in time. `between` runs between the
// slices of the wait.
rd_kafka_resp_err_t Consumer::Impl::commit_and_wait(const rd_kafka_topic_partition_list_t* list,
                                                    const detail::Deadline& deadline,
                                                    const std::function<void()>& between) {
    detail::KafkaQueue queue{rd_kafka_queue_new(rk.get())};
    if (auto err = rd_kafka_commit_queue(rk.get(), list, queue.get(), nullptr, nullptr)) return err;
    for (bool first = true; !deadline.expired(); first = false) {
        if (!first) between();
        detail::KafkaEvent ev{rd_kafka_queue_poll(queue.get(), detail_consumer::slice_ms(deadline))};
        if (!ev || rd_kafka_event_type(ev.get()) != RD_KAFKA_EVENT_OFFSET_COMMIT) continue;
        if (auto err = rd_kafka_event_error(ev.get())) return err;
        if (const auto* res = rd_kafka_event_topic_partition_list(ev.get()))
            for (int i = 0; i < res->cnt; ++i)
                if (res->elems[i].err) return res->elems[i].err;
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    return RD_KAFKA_RESP_ERR__TIMED_OUT;
}

// With auto-commit on, commits what was handed to the application before the consumer leaves its group,
// retrying until `deadline`. librdkafka 2.0.2 makes one attempt at close (the commit of the revoked
// partitions' stored offsets) and drops it when it fails (e.g. "Unknown member" after a coordinator
// failover fenced the member, or a rebalance in progress): the group then resumes from older offsets and
// replays everything since. Returns false, after logging an error, when it could not commit. `between`
// runs between the slices of its waits (its exception ends the commit: a later close commits again).
bool Consumer::Impl::commit_on_close(const detail::Deadline& deadline, const std::function<void()>& between) {
    if (!auto_commit) return true;
    detail::PartitionList list{rd_kafka_topic_partition_list_new(static_cast<int>(handed.size()) + 1)};
    for (const auto& [tp, offset] : handed)
        rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
    if (list->cnt == 0) return true;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    int attempts = 0;
    for (;;) {
        ++attempts;
        err = commit_and_wait(list.get(), deadline, between);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (attempts > 1)
                gracedb::detail::log_info("Kafka consumer group " + group +
                                          ": offsets committed at close after " + std::to_string(attempts) +
                                          " attempts");
            return true;
        }
        if (!commit_retriable(err) || deadline.expired()) break;
        gracedb::detail::log_info("Kafka consumer group " + group + ": commit at close failed (" +
                                  rd_kafka_err2name(err) + "); retrying");
        // Serves the group meanwhile (a rejoin after "Unknown member" or "Illegal generation" runs the
        // rebalance callback); a message fetched now is not handed over and its offset is not stored.
        const bool fenced =
            err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION;
        const auto pause = detail::Deadline::after(std::chrono::milliseconds{500});
        for (bool first = true; !deadline.expired() && (!pause.expired() || (fenced && !has_assignment()));
             first = false) {
            if (!first) between();
            const int slice = std::max(1, detail_consumer::slice_ms(deadline));
            detail::KafkaMessage m{rd_kafka_consumer_poll(rk.get(), slice)};
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
                if (std::find(now.begin(), now.end(), partition_of(e)) != now.end())
                    rd_kafka_topic_partition_list_add(mine.get(), e.topic, e.partition)->offset = e.offset;
            }
            if (mine->cnt < list->cnt)
                gracedb::detail::log_warning(
                    "Kafka consumer group " + group + ": " + std::to_string(list->cnt - mine->cnt) +
                    " partition(s) moved to another member before close could commit them: their messages "
                    "since the last commit will be read again");
            list = std::move(mine);
            if (list->cnt == 0) return false;
        }
    }
    gracedb::detail::log_error("Kafka consumer group " + group + ": could not commit at close (" +
                               rd_kafka_err2name(err) + ": " + rd_kafka_err2str(err) + ", " +
                               std::to_string(attempts) + " attempt(s)): " + offsets_of(list.get()) +
                               "; a consumer of this group will receive these partitions' messages again "
                               "from the last committed offsets");
    return false;
}

void Consumer::commit(const Message& msg) {
    impl().commit_list(detail_consumer::one_partition({msg.topic, msg.partition}, msg.offset + 1).get());
}

void Consumer::commit() { impl().commit_list(nullptr); }

void Consumer::commit(const TopicPartition& tp, std::int64_t next_offset) {
    impl().commit_list(detail_consumer::one_partition(tp, next_offset).get());
}

}  // namespace gracedb::kafka
