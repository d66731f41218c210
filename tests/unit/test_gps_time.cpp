// The GPS <-> UTC conversion of the replay window, at the leap-second boundaries and known events.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "common/gps_time.hpp"

using namespace gracedb::detail;

TEST(GpsTime, EpochAndKnownEvents) {
    EXPECT_DOUBLE_EQ(gps_to_unix(0), 315964800.0);  // 1980-01-06T00:00:00 UTC
    // GPS 1000000000 is 2011-09-14T01:46:25 UTC (15 leap seconds then).
    EXPECT_DOUBLE_EQ(gps_to_unix(1000000000), 1315964785.0);
    // GW150914: GPS 1126259462.4 is 2015-09-14T09:50:45.4 UTC (17).
    EXPECT_NEAR(gps_to_unix(1126259462.4), 1442224245.4, 1e-6);
    // Today's offset: 18 s since 2017-01-01.
    EXPECT_DOUBLE_EQ(unix_to_gps(1764172800.0) - (1764172800.0 - 315964800.0), 18.0);
    EXPECT_DOUBLE_EQ(unix_to_gps(1315964785.0), 1000000000.0);
}

TEST(GpsTime, EveryLeapSecondBoundary) {
    // Unix time at which each leap second took effect; after the i-th, GPS - UTC = i + 1.
    const double leaps[] = {362793600,  394329600,  425865600,  489024000,  567993600,  631152000,
                            662688000,  709948800,  741484800,  773020800,  820454400,  867715200,
                            915148800,  1136073600, 1230768000, 1341100800, 1435708800, 1483228800};
    int n = 0;
    for (double u : leaps) {
        ++n;
        EXPECT_EQ(leap_seconds_at_unix(u - 1), n - 1) << u;
        EXPECT_EQ(leap_seconds_at_unix(u), n) << u;
        const double gps_after = u - 315964800.0 + n;  // 00:00:00 of the new day
        EXPECT_DOUBLE_EQ(gps_to_unix(gps_after), u);
        EXPECT_DOUBLE_EQ(gps_to_unix(gps_after - 2), u - 1);  // 23:59:59
        EXPECT_DOUBLE_EQ(gps_to_unix(gps_after - 1), u);      // 23:59:60: no Unix name, the next second's
        EXPECT_DOUBLE_EQ(gps_to_unix(gps_after + 0.5), u + 0.5);
        EXPECT_DOUBLE_EQ(unix_to_gps(u), gps_after);
        EXPECT_DOUBLE_EQ(unix_to_gps(u - 1), gps_after - 2);
        // Round trips away from the inserted second.
        EXPECT_DOUBLE_EQ(unix_to_gps(gps_to_unix(gps_after + 1000)), gps_after + 1000);
        EXPECT_DOUBLE_EQ(unix_to_gps(gps_to_unix(gps_after - 1000)), gps_after - 1000);
    }
    EXPECT_EQ(n, 18);
}

TEST(GpsTime, MillisecondsRoundUpWithoutFloatingNoise) {
    const double gps = 1400000000.0;
    const auto base = static_cast<std::int64_t>(gps_to_unix(gps)) * 1000;
    EXPECT_EQ(gps_to_unix_ms_ceil(gps), base);
    EXPECT_EQ(gps_to_unix_ms_ceil(gps + 0.123), base + 123);    // not 124 from the double's noise
    EXPECT_EQ(gps_to_unix_ms_ceil(gps + 0.1234), base + 124);   // a part of a millisecond rounds up
    EXPECT_EQ(gps_to_unix_ms_ceil(gps + 0.999), base + 999);
    EXPECT_EQ(gps_to_unix_ms_ceil(gps + 0.9995), base + 1000);
}

TEST(GpsTime, RefusesWhatIsNotAGpsTime) {
    EXPECT_THROW(gps_to_unix(-1), std::invalid_argument);
    EXPECT_THROW(gps_to_unix(std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
    EXPECT_THROW(gps_to_unix(std::numeric_limits<double>::infinity()), std::invalid_argument);
    EXPECT_THROW(unix_to_gps(0), std::invalid_argument);
    try {
        gps_to_unix(-5);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string{e.what()}.find("before the GPS epoch"), std::string::npos);
    }
}
