// The consumer's close: from any thread, the calls inside woken and waited for, the commit at close, the
// group left within the timeout; interruptible (ConsumerOptions::interrupt), then finished by a later close.
#include <gracedb/kafka/consumer.hpp>

#include <cstring>
#include <exception>
#include <mutex>

#include "common/log.hpp"
#include "client/kafka/consumer_impl.hpp"
#include "client/kafka/consumer_watch.hpp"

namespace gracedb::kafka {

namespace {

// The interrupt hook's exception, carried through close's own error handling.
struct Interrupted {
    std::exception_ptr error;
};

}  // namespace

// Closes within `timeout`. `interruptible` (close(), not the destructor): the interrupt hook runs between
// the slices of its waits, and its exception, raised here, leaves the close unfinished: its progress is
// kept, and the next close() (or the destructor) finishes it.
void Consumer::Impl::close_within(std::chrono::milliseconds timeout, bool interruptible) {
    const auto deadline = detail_consumer::within(timeout);
    const std::function<void()> between = [this, interruptible] {
        if (!interruptible || !options.interrupt) return;
        try {
            options.interrupt();
        } catch (...) {
            throw Interrupted{std::current_exception()};
        }
    };
    {
        std::unique_lock lock{close_mutex};
        while (closer_inside) {  // another thread is closing
            close_cv.wait_for(lock, detail_consumer::kSlice);
            if (!interruptible) continue;
            lock.unlock();
            between_slices();
            lock.lock();
        }
        if (close_done) return;  // closed already (or by another thread, which has finished)
        closer_inside = true;
    }
    struct Leave {  // however this call ends, the next closer may go in
        Impl& im;
        ~Leave() {
            {
                std::lock_guard lock{im.close_mutex};
                im.closer_inside = false;
            }
            im.close_cv.notify_all();
        }
    } leave{*this};
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

// close_within's steps; a step done is not done again by a close() that finishes an interrupted one.
void Consumer::Impl::leave_group(std::chrono::milliseconds timeout, const detail::Deadline& deadline,
                                 const std::function<void()>& between) {
    if (!close_begun) {
        gate.begin_close();  // the first call: only close_within calls it, under close_mutex
        // A call inside (a poll in another thread) ends first: woken, it raises client_closed.
        detail::KafkaQueue consumer_queue{rk ? rd_kafka_queue_get_consumer(rk.get()) : nullptr};
        gate.wait_idle([&] {
            if (consumer_queue) rd_kafka_queue_yield(consumer_queue.get());
        });
        close_begun = true;
    }  // the consumer queue is released before the consumer closes (librdkafka's rule for this queue)
    stop_watch();  // no call inside and none to come (no subscribe() starts a watch now): rk was the watch's
    if (!rk) return;
    if (!close_committed) {
        commit_on_close(detail_consumer::within(timeout * 3 / 4), between);
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
        detail::KafkaEvent ev{rd_kafka_queue_poll(close_queue.get(), detail_consumer::slice_ms(deadline))};
        if (ev && rd_kafka_event_type(ev.get()) == RD_KAFKA_EVENT_REBALANCE) {
            if (std::strcmp(rd_kafka_rebalance_protocol(rk.get()), "COOPERATIVE") == 0) {
                const auto* parts = rd_kafka_event_topic_partition_list(ev.get());
                if (auto* e = rd_kafka_incremental_unassign(rk.get(), parts)) rd_kafka_error_destroy(e);
            } else {
                rd_kafka_assign(rk.get(), nullptr);
            }
        }
        done = rd_kafka_consumer_closed(rk.get());
    }
    if (!done)
        gracedb::detail::log_warning("Kafka consumer: close did not complete within " +
                                     std::to_string(timeout.count()) +
                                     " ms (broker unreachable?); abandoning the group");
    close_queue.reset();
    rd_kafka_destroy_flags(rk.release(), done ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

void Consumer::close(std::chrono::milliseconds timeout) { impl().close_within(timeout, true); }

}  // namespace gracedb::kafka
