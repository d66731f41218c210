// The supervisor's stop: the final drain, at the end of run() or in the destructor.
#include <gracedb/log.hpp>

#include "supervisor/impl.hpp"

namespace gracedb {

using namespace std::chrono_literals;

// Stops taking messages, lets running uploads and dead letters finish (drain_timeout), commits what is done
// (commit_timeout) and leaves the group. Retries not yet started stay uncommitted.
void Supervisor::Impl::drain() {
    if (drained) return;
    drained = true;
    stopping.store(true);
    const auto deadline = detail::Deadline::at(detail::Deadline::Clock::now() + options.drain_timeout);
    while ((pool->outstanding() > 0 || dead_letters->in_flight() > 0) && !deadline.expired()) {
        pool->wait_for_result(20ms);
        handle_results();
        serve_dead_letters();
        commits->collect();
    }
    const auto unfinished = pool->outstanding() + dead_letters->in_flight();
    commits->wait_idle(options.commit_timeout);
    commits->collect();
    commits->schedule(true);
    if (!commits->wait_idle(options.commit_timeout))
        log(LogLevel::warning, "supervisor: the last commit did not complete within " +
                                   std::to_string(options.commit_timeout.count()) + " ms");
    commits->collect();
    publish_gauges();
    log(LogLevel::info, "supervisor: stopping; " + std::to_string(partitions->pending()) +
                            " message(s) not done (" + std::to_string(retries.size()) +
                            " waiting for a retry, " + std::to_string(unfinished) +
                            " still running) stay uncommitted for the next supervisor");
    commits->stop();
    pool->stop();
    try {
        consumer->close();
    } catch (const std::exception& e) {
        log(LogLevel::warning, std::string{"supervisor: closing the consumer: "} + e.what());
    }
}

Supervisor::Impl::~Impl() {
    try {
        drain();
    } catch (...) {
    }
    pool->stop();
    commits->stop();
}

}  // namespace gracedb
