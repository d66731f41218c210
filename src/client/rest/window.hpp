// Private: the reservation window. Right after create_event publishes an event over Kafka its graceid is
// only reserved: GraceDB has the event once the supervisor uploaded it. PendingEvents remembers the graceids
// this client published and has not yet seen exist (a bounded set); follow-ups on those retry GraceDB's 404
// "Event not found." until the event exists or GraceDbOptions::reservation_wait passes.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_set>

namespace gracedb::rest_detail {

class PendingEvents {
public:
    /// At most this many graceids are remembered; the oldest is forgotten first (a follow-up on it then
    /// gets the plain 404, as for any graceid this client did not publish).
    static constexpr std::size_t kCapacity = 4096;

    /// Published over Kafka, to be uploaded by the supervisor.
    void add(const std::string& graceid);
    /// Seen to exist (or completed over HTTP): never waited for again.
    void erase(const std::string& graceid);
    bool contains(const std::string& graceid) const;

private:
    mutable std::mutex mutex_;
    std::unordered_set<std::string> ids_;
    std::deque<std::string> order_;  // oldest first; may hold ids erased since (skipped when evicting)
};

/// The real server's answer for a graceid that is no Event (reserved only, or unknown): 404 with the plain
/// text "Event not found." (gracedb/api/v1/events/views.py, event_and_auth_required).
bool is_missing_event(long status, const std::string& body);

/// The back-off between attempts while waiting: 20 ms, then x1.5 each time, at most 500 ms.
std::chrono::milliseconds next_window_backoff(std::chrono::milliseconds previous);

}  // namespace gracedb::rest_detail
