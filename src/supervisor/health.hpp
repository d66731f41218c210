// Private to the supervisor: is it able to upload at all? Every failed attempt that is not the message's own
// fault (a refusal of the supervisor, the server busy or unreachable) counts; any success clears the count.
// After kBlockAfter such failures in a row, of at least two different messages (one message alone that keeps
// failing says nothing about the others, and must not stop them), the supervisor is "blocked": it stops
// fetching more messages (those it holds keep being retried, as probes) until an upload succeeds again. 404s do not count: a 404 may be one
// event's fault (never reserved), and a message anybody may write must not stop the supervisor; 404s from
// something in front of GraceDB still fill the window of held messages, which stops fetching just the same.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "common/text.hpp"
#include "supervisor/decode.hpp"

namespace gracedb::supervisor_detail {

class Health {
public:
    static constexpr int kBlockAfter = 3;
    using Clock = std::chrono::steady_clock;

    /// An upload completed (2xx or 409), answered at `answered`. True when this ends a blocked state.
    bool succeeded(Clock::time_point answered) {
        last_success_ = std::max(last_success_, answered);
        streak_ = 0;
        first_ = nullptr;
        several_ = false;
        const bool was = blocked_;
        blocked_ = false;
        return was;
    }

    /// A failed attempt of `kind`, for the message `which` (any identity that lives as long as the message).
    /// True when this starts a blocked state.
    bool failed(AttemptResult::Kind kind, const std::string& detail, Clock::time_point now, const void* which) {
        if (kind != AttemptResult::Kind::transient && kind != AttemptResult::Kind::refused) return false;
        ++streak_;
        if (!first_) first_ = which;
        else if (which != first_) several_ = true;
        reason_ = std::string{kind == AttemptResult::Kind::refused ? "GraceDB (or something in front of it) refuses "
                                                                    "the supervisor: "
                                                                  : "GraceDB is busy or unreachable: "} +
                  gracedb::detail::utf8_excerpt(detail, 300);
        // Once a refusal was seen in a block, the block stays the supervisor's own fault until an upload
        // succeeds (a timeout among the refusals does not make /readyz flap).
        own_fault_ = (blocked_ && own_fault_) || kind == AttemptResult::Kind::refused;
        if (blocked_ || streak_ < kBlockAfter || !several_) return false;
        blocked_ = true;
        blocked_since_ = now;
        return true;
    }

    bool blocked() const { return blocked_; }
    /// Blocked by a refusal (the supervisor's token, permissions, a proxy), not by the server being down.
    bool own_fault() const { return blocked_ && own_fault_; }
    const std::string& reason() const { return reason_; }
    Clock::time_point blocked_since() const { return blocked_since_; }
    /// When the last successful upload was answered (epoch of steady_clock before the first).
    Clock::time_point last_success() const { return last_success_; }

private:
    int streak_ = 0;
    const void* first_ = nullptr;  // the first message of the streak
    bool several_ = false;         // the streak has failures of another message too
    bool blocked_ = false;
    bool own_fault_ = false;
    std::string reason_;
    Clock::time_point blocked_since_{};
    Clock::time_point last_success_{};
};

}  // namespace gracedb::supervisor_detail
