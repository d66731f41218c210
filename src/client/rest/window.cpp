// The reservation window (see window.hpp): which graceids this client published and has not yet seen exist,
// and GraceDb::Impl::followup, which retries a follow-up on such a graceid while GraceDB answers 404 "Event
// not found.". Why retry the request itself rather than wait for the supervisor's "new" alert: the alert
// travels on another system (igwn-alert, its own broker, credentials and group join, seconds of latency, lost
// if the listener joins late), while the retried request needs nothing the client does not already have; a
// request answered 404 created nothing (the server looks the event up before anything else), so resending it
// is safe, also for write_log's POST.
#include <algorithm>
#include <thread>

#include "client/rest/impl.hpp"
#include "client/rest/window.hpp"
#include "common/deadline.hpp"

namespace gracedb {

EventNotUploadedError::EventNotUploadedError(std::string graceid, std::chrono::milliseconds waited,
                                             std::string body, const std::string& what)
    : HTTPError(404, std::move(body), what, Errc::timed_out, true),
      graceid_{std::move(graceid)},
      waited_{waited} {}
EventNotUploadedError::~EventNotUploadedError() = default;

namespace rest_detail {

void PendingEvents::add(const std::string& graceid) {
    std::lock_guard lock{mutex_};
    if (!ids_.insert(graceid).second) return;
    order_.push_back(graceid);
    while (ids_.size() > kCapacity && !order_.empty()) {
        ids_.erase(order_.front());
        order_.pop_front();
    }
    // Ids erased since they were added stay in order_ until they reach its front; keep it bounded too.
    if (order_.size() > 2 * kCapacity) {
        std::deque<std::string> kept;
        for (auto& id : order_)
            if (ids_.count(id)) kept.push_back(std::move(id));
        order_ = std::move(kept);
    }
}

void PendingEvents::erase(const std::string& graceid) {
    std::lock_guard lock{mutex_};
    ids_.erase(graceid);
}

bool PendingEvents::contains(const std::string& graceid) const {
    std::lock_guard lock{mutex_};
    return ids_.count(graceid) != 0;
}

bool is_missing_event(long status, const std::string& body) {
    if (status != 404) return false;
    const auto first = body.find_first_not_of(" \t\r\n\"");
    return first != std::string::npos && body.compare(first, 15, "Event not found") == 0;
}

std::chrono::milliseconds next_window_backoff(std::chrono::milliseconds previous) {
    using std::chrono::milliseconds;
    if (previous.count() <= 0) return milliseconds{20};
    return std::min(milliseconds{previous.count() * 3 / 2}, milliseconds{500});
}

}  // namespace rest_detail

namespace {

std::string seconds_text(std::chrono::milliseconds d) {
    const auto tenths = (d.count() + 50) / 100;
    return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

}  // namespace

Response GraceDb::Impl::followup(const std::string& graceid, const char* call,
                                 const std::function<Response()>& send) {
    if (!pending.contains(graceid)) return send();  // not ours, or seen to exist: a 404 is final
    const auto start = Clock::now();
    const auto deadline = detail::Deadline::at(start + options.reservation_wait);
    std::chrono::milliseconds backoff{0};
    bool waited = false;
    for (;;) {
        try {
            Response r = send();
            pending.erase(graceid);
            if (waited) r.timings.emplace_back("reservation_wait", since(start));
            return r;
        } catch (const HTTPError& e) {
            if (!is_missing_event(e.status(), e.body())) throw;
            const std::string what = std::string{call} + "(" + graceid + ")";
            if (deadline.expired()) {
                const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(since(start));
                throw EventNotUploadedError(
                    graceid, spent, e.body(),
                    what + ": GraceDB " + shown_url + " still answers 404 \"Event not found.\" for " +
                        graceid + " after " + seconds_text(spent) + " (GraceDbOptions::reservation_wait): " +
                        "this client reserved " + graceid + " and published it over Kafka, but no " +
                        "supervisor has uploaded it. Is a supervisor running for this GraceDB instance (gracedb-kafka " +
                        "check)? This request created nothing: send it again later, or allow a longer " +
                        "reservation_wait");
            }
            if (!waited)
                detail::log_info(what + ": " + graceid + " is not in GraceDB yet (reserved and published " +
                                 "over Kafka; the supervisor uploads it): retrying for up to " +
                                 seconds_text(options.reservation_wait));
            waited = true;
            backoff = next_window_backoff(backoff);
            std::this_thread::sleep_for(deadline.slice(backoff));
        }
    }
}

}  // namespace gracedb
