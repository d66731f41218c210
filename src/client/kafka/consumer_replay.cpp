// The consumer's replay window (since_gps / until_gps): where each partition starts and ends; see
// consumer_replay.hpp.
#include "client/kafka/consumer_replay.hpp"

#include <gracedb/kafka/errors.hpp>

#include <set>
#include <stdexcept>

#include "common/gps_time.hpp"
#include "common/log.hpp"
#include "client/kafka/error_map.hpp"

namespace gracedb::kafka::detail_replay {
namespace {

using namespace std::chrono_literals;
constexpr int kLookupTimeoutMs = 10000;

std::int64_t bound_ms(double gps, const char* name) {
    try {
        return gracedb::detail::gps_to_unix_ms_ceil(gps);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string{"ConsumerOptions::"} + name + ": " + e.what() +
                                    " (give GPS seconds, e.g. 1400000000)");
    }
}

std::int64_t now_ms() {
    const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    return std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count();
}

}  // namespace

std::unique_ptr<Replay> Replay::from(const ConsumerOptions& o) {
    if (!o.since_gps && !o.until_gps) return nullptr;
    std::optional<std::int64_t> since, until;
    if (o.since_gps) since = bound_ms(*o.since_gps, "since_gps");
    if (o.until_gps) until = bound_ms(*o.until_gps, "until_gps");
    if (since && until && *until <= *since)
        throw std::invalid_argument("ConsumerOptions::until_gps (" + std::to_string(*o.until_gps) +
                                    ") must be after since_gps (" + std::to_string(*o.since_gps) +
                                    "): the window [since_gps, until_gps) would be empty");
    return std::unique_ptr<Replay>{new Replay{since, until}};
}

void Replay::fail(const std::string& what, rd_kafka_resp_err_t err) {
    if (!error_)
        error_ = detail_errors::make_kafka_error(
            err, what + " (" + rd_kafka_err2name(err) + ": " + rd_kafka_err2str(err) +
                     "); the partitions concerned are paused: close this consumer and create a new one",
            detail_errors::Op::consume);
}

void Replay::raise() {
    std::lock_guard lock{mutex_};
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void Replay::on_assign(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts,
                       const std::string& auto_offset_reset) {
    std::lock_guard lock{mutex_};
    detail::PartitionList fresh{rd_kafka_topic_partition_list_new(parts->cnt)};
    for (int i = 0; i < parts->cnt; ++i) {
        auto& e = parts->elems[i];
        auto it = parts_.find({e.topic, e.partition});
        if (it != parts_.end() && it->second.next >= 0) {
            e.offset = it->second.next;  // read here before: go on from where this consumer was
            continue;
        }
        rd_kafka_topic_partition_list_add(fresh.get(), e.topic, e.partition)->offset = since_ms_.value_or(0);
    }
    if (fresh->cnt == 0) return;
    // Where each new partition starts: the first offset at or after since_gps, or the group's position.
    rd_kafka_resp_err_t err = since_ms_ ? rd_kafka_offsets_for_times(rk, fresh.get(), kLookupTimeoutMs)
                                        : rd_kafka_committed(rk, fresh.get(), kLookupTimeoutMs);
    std::map<TopicPartition, std::int64_t> start;
    std::set<TopicPartition> filtered;
    for (int i = 0; !err && i < fresh->cnt; ++i) {
        const auto& e = fresh->elems[i];
        if (e.err) {
            err = e.err;
            break;
        }
        std::int64_t offset = e.offset;
        if (offset < 0) {
            // No message at or after since_gps (or no committed offset): the end of the partition (or,
            // without since_gps, where auto_offset_reset says).
            std::int64_t low = 0, high = 0;
            err = rd_kafka_query_watermark_offsets(rk, e.topic, e.partition, &low, &high, kLookupTimeoutMs);
            offset = (!since_ms_ && auto_offset_reset == "earliest") ? low : high;
            if (!err && since_ms_ && high > low && !finds_times(rk, e.topic, e.partition)) {
                offset = low;  // from the beginning, the messages stamped before since_gps skipped
                filtered.insert({e.topic, e.partition});
            }
        }
        start[{e.topic, e.partition}] = offset;
    }
    // Where each one ends: the first offset at or after until_gps, when the broker has one already.
    std::map<TopicPartition, std::int64_t> end;
    if (!err && until_ms_) {
        for (int i = 0; i < fresh->cnt; ++i) fresh->elems[i].offset = *until_ms_;
        err = rd_kafka_offsets_for_times(rk, fresh.get(), kLookupTimeoutMs);
        for (int i = 0; !err && i < fresh->cnt; ++i)
            if (!fresh->elems[i].err && fresh->elems[i].offset >= 0)
                end[{fresh->elems[i].topic, fresh->elems[i].partition}] = fresh->elems[i].offset;
    }
    for (int i = 0; i < parts->cnt; ++i) {
        auto& e = parts->elems[i];
        const TopicPartition tp{e.topic, e.partition};
        auto s = start.find(tp);
        if (s == start.end()) continue;  // seen before, or not looked up
        auto& p = parts_[tp];
        if (err) {
            p.done = true;  // paused by after_assign: nothing outside the window is ever handed over
            e.offset = RD_KAFKA_OFFSET_END;
            continue;
        }
        p.next = s->second;
        p.filter_since = filtered.contains(tp);
        if (auto en = end.find(tp); en != end.end()) p.end = en->second;
        p.done = p.end && p.next >= *p.end;
        e.offset = p.next;
    }
    if (err)
        fail("the Kafka consumer could not find where the GPS window starts or ends on " +
                 std::to_string(fresh->cnt) + " partition(s)",
             err);
}

void Replay::after_assign(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* parts) {
    std::lock_guard lock{mutex_};
    detail::PartitionList ended{rd_kafka_topic_partition_list_new(parts->cnt)};
    for (int i = 0; i < parts->cnt; ++i) {
        auto it = parts_.find({parts->elems[i].topic, parts->elems[i].partition});
        if (it != parts_.end() && it->second.done)
            rd_kafka_topic_partition_list_add(ended.get(), parts->elems[i].topic, parts->elems[i].partition);
    }
    if (ended->cnt > 0) rd_kafka_pause_partitions(rk, ended.get());
}

void Replay::end(rd_kafka_t* rk, const TopicPartition& tp, Part& p) {
    p.done = true;
    detail::PartitionList one{rd_kafka_topic_partition_list_new(1)};
    rd_kafka_topic_partition_list_add(one.get(), tp.topic.c_str(), tp.partition);
    rd_kafka_pause_partitions(rk, one.get());  // an error here only means it is no longer assigned
    gracedb::detail::log_info("Kafka consumer: " + tp.to_string() + " reached until_gps at offset " +
                              std::to_string(p.end.value_or(p.next)));
}

// A broker that answers "no such offset" even for timestamp 0 on a partition that has messages cannot look up
// offsets by time (librdkafka's mock cluster, behind the sandbox; every Kafka broker since 0.10.1 can).
bool Replay::finds_times(rd_kafka_t* rk, const char* topic, std::int32_t partition) {
    detail::PartitionList one{rd_kafka_topic_partition_list_new(1)};
    rd_kafka_topic_partition_list_add(one.get(), topic, partition)->offset = 0;
    if (rd_kafka_offsets_for_times(rk, one.get(), kLookupTimeoutMs) || one->elems[0].err) return true;
    if (one->elems[0].offset >= 0) return true;
    gracedb::detail::log_info(std::string{"Kafka consumer: the broker cannot look up offsets by time: "} +
                              TopicPartition{topic, partition}.to_string() +
                              " is read from its beginning, the messages stamped before since_gps skipped");
    return false;
}

bool Replay::admit(rd_kafka_t* rk, const Message& msg) {
    std::lock_guard lock{mutex_};
    const TopicPartition tp{msg.topic, msg.partition};
    auto& p = parts_[tp];
    if (p.done) return false;
    if (p.filter_since && since_ms_ &&
        (!msg.timestamp ||
         std::chrono::duration_cast<std::chrono::milliseconds>(msg.timestamp->time_since_epoch()).count() <
             *since_ms_)) {
        p.next = msg.offset + 1;
        return false;  // before the window
    }
    if (until_ms_) {
        const bool late = msg.timestamp && std::chrono::duration_cast<std::chrono::milliseconds>(
                                               msg.timestamp->time_since_epoch())
                                                   .count() >= *until_ms_;
        if (late || (p.end && msg.offset >= *p.end)) {
            if (!p.end || *p.end > msg.offset) p.end = msg.offset;
            end(rk, tp, p);
            return false;
        }
    }
    p.next = msg.offset + 1;
    if (p.end && p.next >= *p.end) end(rk, tp, p);
    return true;
}

void Replay::idle(rd_kafka_t* rk) {
    if (!until_ms_) return;
    if (!next_idle_check_.expired() || now_ms() < *until_ms_) return;
    next_idle_check_ = detail::Deadline::after(1s);
    std::lock_guard lock{mutex_};
    for (auto& [tp, p] : parts_) {
        if (p.done) continue;
        if (!p.end) {
            // until_gps has passed here: a message stamped before it can no longer be written (clocks
            // agreeing), so the window ends at the first message after it, or at the partition's end now.
            detail::PartitionList one{rd_kafka_topic_partition_list_new(1)};
            rd_kafka_topic_partition_list_add(one.get(), tp.topic.c_str(), tp.partition)->offset = *until_ms_;
            if (rd_kafka_offsets_for_times(rk, one.get(), kLookupTimeoutMs) || one->elems[0].err) continue;
            std::int64_t end = one->elems[0].offset, low = 0, high = 0;
            if (end < 0) {
                if (rd_kafka_query_watermark_offsets(rk, tp.topic.c_str(), tp.partition, &low, &high,
                                                     kLookupTimeoutMs))
                    continue;
                end = high;
            }
            p.end = end;
        }
        // Where librdkafka's fetcher is (past control records, which are never handed over).
        detail::PartitionList pos{rd_kafka_topic_partition_list_new(1)};
        rd_kafka_topic_partition_list_add(pos.get(), tp.topic.c_str(), tp.partition);
        std::int64_t at = p.next;
        if (!rd_kafka_position(rk, pos.get()) && pos->elems[0].offset >= 0)
            at = std::max(at, pos->elems[0].offset);
        if (at >= *p.end) end(rk, tp, p);
    }
}

bool Replay::finished(const std::vector<TopicPartition>& assigned) const {
    if (!until_ms_ || assigned.empty()) return false;
    std::lock_guard lock{mutex_};
    for (const auto& tp : assigned) {
        auto it = parts_.find(tp);
        if (it == parts_.end() || !it->second.done) return false;
    }
    return true;
}

}  // namespace gracedb::kafka::detail_replay
