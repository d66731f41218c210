// Private: a point in time a blocking call must return by, instead of "deadline - now" computed by hand at
// every wait. A Deadline is made from a timeout (negative: no limit) and answers how much is left, in the
// forms the callers need (a chrono duration, librdkafka's int milliseconds, a slice of a longer wait).
#pragma once

#include <algorithm>
#include <chrono>
#include <limits>

namespace gracedb::detail {

class Deadline {
public:
    using Clock = std::chrono::steady_clock;

    /// No limit.
    static Deadline never() { return Deadline{}; }
    /// `timeout` from now; a negative timeout means no limit.
    static Deadline after(std::chrono::milliseconds timeout) {
        return timeout < std::chrono::milliseconds::zero() ? never() : Deadline{Clock::now() + timeout};
    }
    /// At `when`.
    static Deadline at(Clock::time_point when) { return Deadline{when}; }

    bool unlimited() const { return unlimited_; }
    bool expired() const { return !unlimited_ && Clock::now() >= when_; }
    /// The time point (Clock::time_point::max() when unlimited).
    Clock::time_point when() const { return unlimited_ ? Clock::time_point::max() : when_; }

    /// What is left, never negative; milliseconds::max() when unlimited. Rounded up: 0 only once expired(), so
    /// a loop waiting left() at a time sleeps through its last fraction of a millisecond instead of spinning.
    std::chrono::milliseconds left() const {
        if (unlimited_) return std::chrono::milliseconds::max();
        const auto d = std::chrono::ceil<std::chrono::milliseconds>(when_ - Clock::now());
        return std::max(d, std::chrono::milliseconds::zero());
    }
    /// What is left, at most `cap`: one slice of a wait that must also look at something else in between.
    std::chrono::milliseconds slice(std::chrono::milliseconds cap) const { return std::min(left(), cap); }
    /// What is left as librdkafka's timeout argument: -1 when unlimited, else milliseconds clamped to int.
    int rd_timeout_ms() const {
        if (unlimited_) return -1;
        const auto ms = left().count();
        return static_cast<int>(std::min<long long>(ms, std::numeric_limits<int>::max()));
    }

private:
    Deadline() = default;
    explicit Deadline(Clock::time_point when) : unlimited_(false), when_(when) {}
    bool unlimited_ = true;
    Clock::time_point when_{};
};

}  // namespace gracedb::detail
