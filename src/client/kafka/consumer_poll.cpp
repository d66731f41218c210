// The consumer's read path: poll (in slices, with the interrupt hook between them), librdkafka's message
// converted to a Message and handed over (its offset stored), the sorting of poll errors, and the stream.
#include <gracedb/kafka/consumer.hpp>
#include <gracedb/kafka/errors.hpp>
#include <gracedb/signals.hpp>

#include "common/log.hpp"
#include "client/core/signals.hpp"
#include "client/kafka/consumer_impl.hpp"
#include "client/kafka/error_map.hpp"

namespace gracedb::kafka {
using detail_consumer::slice_ms;
using detail_consumer::within;
using detail_errors::Op;

Message Consumer::Impl::convert(const rd_kafka_message_t* m) {
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
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
            std::optional<std::string> v;
            if (val) v = std::string(static_cast<const char*>(val), size);
            out.headers.emplace_back(name, std::move(v));
        }
    }
    return out;
}

namespace {

// A poll's error that is not a message: true when librdkafka retries it by itself (the poll goes on);
// anything else is raised, typed (authentication and authorization failures are KafkaAuthenticationError).
bool heals_by_itself(const rd_kafka_message_t* m) {
    const auto err = m->err;
    const std::string what = rd_kafka_message_errstr(m);
    switch (err) {
        case RD_KAFKA_RESP_ERR__PARTITION_EOF: return true;
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
            gracedb::detail::log_debug("Kafka consumer: " + what + " (waiting for the topic to appear)");
            return true;
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
            gracedb::detail::log_info("Kafka consumer: " + what + " (librdkafka retries)");
            return true;
        default:
            return false;
    }
}

}  // namespace

// Hands `msg` to the application: stores its offset (committed by auto-commit, commit() or close()).
Message Consumer::Impl::hand_over(Message msg) {
    const TopicPartition tp{msg.topic, msg.partition};
    auto list = detail_consumer::one_partition(tp, msg.offset + 1);
    auto err = rd_kafka_offsets_store(rk.get(), list.get());
    if (!err) err = list->elems[0].err;
    if (err)
        gracedb::detail::log_debug(std::string{"Kafka consumer: offset not stored ("} +
                                   rd_kafka_err2name(err) +
                                   "): the partition was revoked; the message may come again");
    else
        handed[tp] = msg.offset + 1;
    return msg;
}

// Raises what will not heal by waiting: a fatal error, an authentication refusal, a TLS failure seen
// since `mark`. Called only when no message is at hand, so that a fetched message is never dropped.
void Consumer::Impl::raise_unhealing(std::uint64_t mark) {
    raise_pending();
    if (auto e = connection_failure_since(mark, true)) std::rethrow_exception(e);
}

// One message from librdkafka, or nothing by the deadline. Errors are classified here. A message that
// was fetched is always returned: errors (and the interrupt hook's exception) wait for the next call.
std::optional<Message> Consumer::Impl::poll_until(const detail::Deadline& deadline) {
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
            between_slices(use);
        }
        if (replay_finished()) return std::nullopt;
        rejoin_if_due();
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
        if (heals_by_itself(m.get())) continue;
        const auto err = m->err;
        if (err == RD_KAFKA_RESP_ERR__FATAL) raise_pending();
        const std::string what = std::string{"Kafka consumer refused or failed ("} + rd_kafka_err2name(err) +
                                 "): " + rd_kafka_message_errstr(m.get());
        detail_errors::throw_kafka_error(err, what, Op::consume);
    }
}

bool Consumer::Impl::replay_finished() const {
    if (!replay) return false;
    std::lock_guard lock{assignment_mutex};
    return replay->finished(assigned);
}

std::optional<Message> Consumer::poll(std::chrono::milliseconds timeout) {
    return impl().poll_until(within(timeout));
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

Consumer::Stream Consumer::stream(std::chrono::milliseconds timeout, std::optional<std::size_t> count) {
    impl().stop_flag.store(false);
    return Stream{*this, timeout, count};
}

Consumer::Stream::Stream(Consumer& consumer, std::chrono::milliseconds timeout,
                         std::optional<std::size_t> count)
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
