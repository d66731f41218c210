// detail::Deadline: the one way a blocking call computes what is left of its time.
#include <gtest/gtest.h>

#include <thread>

#include "common/deadline.hpp"

using gracedb::detail::Deadline;
using namespace std::chrono_literals;

TEST(Deadline, ANegativeTimeoutHasNoLimit) {
    const auto d = Deadline::after(-1ms);
    EXPECT_TRUE(d.unlimited());
    EXPECT_FALSE(d.expired());
    EXPECT_EQ(d.left(), std::chrono::milliseconds::max());
    EXPECT_EQ(d.rd_timeout_ms(), -1);
    EXPECT_EQ(d.slice(100ms), 100ms);
    EXPECT_EQ(Deadline::never().when(), Deadline::Clock::time_point::max());
}

TEST(Deadline, LeftShrinksAndNeverGoesNegative) {
    const auto d = Deadline::after(30ms);
    EXPECT_FALSE(d.unlimited());
    EXPECT_LE(d.left(), 30ms);
    EXPECT_LE(d.slice(5ms), 5ms);
    std::this_thread::sleep_for(40ms);
    EXPECT_TRUE(d.expired());
    EXPECT_EQ(d.left(), 0ms);
    EXPECT_EQ(d.rd_timeout_ms(), 0);
    EXPECT_EQ(d.slice(100ms), 0ms);
}

TEST(Deadline, ZeroIsAlreadyExpiredAndAHugeOneFitsLibrdkafkasInt) {
    EXPECT_TRUE(Deadline::after(0ms).expired());
    const auto far = Deadline::after(std::chrono::hours{24 * 365 * 100});
    EXPECT_FALSE(far.unlimited());
    EXPECT_EQ(far.rd_timeout_ms(), std::numeric_limits<int>::max());
}

TEST(Deadline, NothingIsLeftOnlyOnceItHasExpired) {
    // Truncated, the last fraction of a millisecond read as 0 while not yet expired: a caller waiting left()
    // polled with 0 and spun. Sampled through the whole last millisecond of a 3 ms deadline.
    const auto d = Deadline::after(3ms);
    int samples = 0, zero_before_expiry = 0;
    for (bool expired = false; !expired; ++samples) {
        const auto left = d.left();
        expired = d.expired();  // read after left(): time only moves on
        if (left == 0ms && !expired) ++zero_before_expiry;
        EXPECT_LE(left, 3ms);
    }
    EXPECT_EQ(zero_before_expiry, 0) << "of " << samples << " samples";
    EXPECT_EQ(d.left(), 0ms);
}
