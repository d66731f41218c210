// The consumer's partitions: librdkafka's rebalance callback (assign, revoke, a lost assignment), waiting for
// an assignment, what is assigned, pause/resume and the lag of one partition.
#include <gracedb/kafka/consumer.hpp>
#include <gracedb/kafka/errors.hpp>

#include <algorithm>
#include <cstring>

#include "common/log.hpp"
#include "client/kafka/consumer_impl.hpp"
#include "client/kafka/error_map.hpp"

namespace gracedb::kafka {
using detail_consumer::partition_of;
using detail_errors::Op;

void Consumer::Impl::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                  rd_kafka_topic_partition_list_t* parts, void* opaque) {
    try {
        auto* self = static_cast<Impl*>(static_cast<detail_client::ClientCore*>(opaque));
        const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
            self->assign(rk, parts, cooperative);
        else
            self->revoke(rk, parts, cooperative);
        const char* what = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? ": assigned " : ": revoked ";
        gracedb::detail::log_info("Kafka consumer group " + self->group + what + std::to_string(parts->cnt) +
                                  " partition(s)");
    } catch (...) {
    }
}

void Consumer::Impl::assign(rd_kafka_t* handle, rd_kafka_topic_partition_list_t* parts, bool cooperative) {
    const int resumed = resume_after_loss(parts);
    if (replay) replay->on_assign(handle, parts, options.auto_offset_reset);
    if (cooperative) {
        if (auto* e = rd_kafka_incremental_assign(handle, parts)) rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(handle, parts);
    }
    if (resumed > 0 || !handed_before_loss.empty()) commit_resumed(parts);
    if (replay) replay->after_assign(handle, parts);
    std::lock_guard lock{assignment_mutex};
    if (!cooperative) assigned.clear();
    for (int i = 0; i < parts->cnt; ++i) assigned.push_back(partition_of(parts->elems[i]));
}

void Consumer::Impl::revoke(rd_kafka_t* handle, rd_kafka_topic_partition_list_t* parts, bool cooperative) {
    if (cooperative) {
        if (auto* e = rd_kafka_incremental_unassign(handle, parts)) rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(handle, nullptr);
    }
    // librdkafka commits the stored offsets of revoked partitions itself (auto-commit); after a revoke they
    // may belong to another member, whose progress close() must not overwrite.
    const bool lost = rd_kafka_assignment_lost(handle);
    for (int i = 0; i < parts->cnt; ++i) {
        const auto it = handed.find(partition_of(parts->elems[i]));
        if (it == handed.end()) continue;
        // Only when this consumer owns the commits (auto-commit): with manual commits, what was handed over
        // is not what was done (the supervisor holds jobs it has not finished), so the partition must come
        // back at the application's last commit, not after `handed`.
        if (lost && auto_commit) handed_before_loss[it->first] = it->second;
        handed.erase(it);
    }
    std::lock_guard lock{assignment_mutex};
    if (!cooperative) {
        assigned.clear();
    } else {
        for (int i = 0; i < parts->cnt; ++i) std::erase(assigned, partition_of(parts->elems[i]));
    }
}

// In the rebalance callback, before assigning `parts`: partitions handed over before their assignment was
// lost start after what was handed (their offset in `parts`). Returns how many.
int Consumer::Impl::resume_after_loss(rd_kafka_topic_partition_list_t* parts) {
    if (handed_before_loss.empty()) return 0;
    int n = 0;
    for (int i = 0; i < parts->cnt; ++i) {
        const auto it = handed_before_loss.find(partition_of(parts->elems[i]));
        if (it == handed_before_loss.end()) continue;
        parts->elems[i].offset = it->second;
        ++n;
    }
    return n;
}

bool Consumer::wait_for_assignment(std::chrono::milliseconds timeout) {
    auto& im = impl();
    Impl::Use use{im};
    const auto deadline = detail_consumer::within(timeout);
    for (bool first = true; !im.has_assignment() && !deadline.expired(); first = false) {
        if (!first) im.between_slices(use);  // a message fetched meanwhile is in `buffered`, kept for poll()
        if (im.gate.closing()) Impl::throw_closed();  // close() began while this call waited
        im.rejoin_if_due();
        detail::KafkaMessage m{rd_kafka_consumer_poll(im.rk.get(), detail_consumer::slice_ms(deadline))};
        if (m && !m->err) {
            // Kept for poll(), which stores its offset when it returns it (a close before that leaves it
            // uncommitted); a pending error waits for a call with no message at hand.
            im.buffered.push_back(Impl::convert(m.get()));
            continue;
        }
        im.raise_pending();
    }
    if (!im.has_assignment()) return false;
    if (im.options.auto_offset_reset != "latest" || im.replay) return true;  // replay: since_gps placed them
    // "latest" means: from what exists when this returns. librdkafka resolves the end offset lazily, after
    // the assignment, so a message produced right now could fall before it. Pin partitions that have no
    // committed offset to their current end.
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
        if (rd_kafka_error_t* e = rd_kafka_seek_partitions(im.rk.get(), seek.get(), left))
            rd_kafka_error_destroy(e);
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
    if (rd_kafka_get_watermark_offsets(im.rk.get(), tp.topic.c_str(), tp.partition, &low, &high) || high < 0)
        return std::nullopt;
    auto list = detail_consumer::one_partition(tp);
    if (rd_kafka_position(im.rk.get(), list.get()) || list->elems[0].offset < 0) return std::nullopt;
    return std::max<std::int64_t>(0, high - list->elems[0].offset);
}

// Stops (`pause`) or restarts fetching from one partition.
void Consumer::Impl::set_paused(const TopicPartition& tp, bool pause) {
    Use use{*this};
    auto list = detail_consumer::one_partition(tp);
    const auto err = pause ? rd_kafka_pause_partitions(rk.get(), list.get())
                           : rd_kafka_resume_partitions(rk.get(), list.get());
    if (err)
        detail_errors::throw_kafka_error(err,
                                         std::string{pause ? "cannot pause " : "cannot resume "} +
                                             tp.to_string() + ": " + rd_kafka_err2str(err),
                                         Op::consume);
}

void Consumer::pause(const std::string& topic, std::int32_t partition) {
    impl().set_paused({topic, partition}, true);
}

void Consumer::resume(const std::string& topic, std::int32_t partition) {
    impl().set_paused({topic, partition}, false);
}

}  // namespace gracedb::kafka
