#include "common/gps_time.hpp"

#include <array>
#include <cmath>
#include <stdexcept>
#include <string>

namespace gracedb::detail {
namespace {

// The Unix time at which each leap second since the GPS epoch took effect (00:00:00 UTC of the day after the
// inserted 23:59:60); after the i-th entry GPS - UTC is i + 1 seconds. Source: IERS Bulletin C (none
// announced after 2017-01-01 as of this writing; a new one is one line here).
constexpr std::array<std::int64_t, 18> kLeaps = {
    362793600,   // 1981-07-01
    394329600,   // 1982-07-01
    425865600,   // 1983-07-01
    489024000,   // 1985-07-01
    567993600,   // 1988-01-01
    631152000,   // 1990-01-01
    662688000,   // 1991-01-01
    709948800,   // 1992-07-01
    741484800,   // 1993-07-01
    773020800,   // 1994-07-01
    820454400,   // 1996-01-01
    867715200,   // 1997-07-01
    915148800,   // 1999-01-01
    1136073600,  // 2006-01-01
    1230768000,  // 2009-01-01
    1341100800,  // 2012-07-01
    1435708800,  // 2015-07-01
    1483228800,  // 2017-01-01
};

void check_finite_after_epoch(double value, double epoch, const char* what) {
    if (!std::isfinite(value))
        throw std::invalid_argument(std::string{what} + " is not a finite number of seconds");
    if (value < epoch)
        throw std::invalid_argument(std::string{what} + " " + std::to_string(value) +
                                    " is before the GPS epoch (1980-01-06T00:00:00 UTC)");
}

}  // namespace

int leap_seconds_at_unix(double unix_s) noexcept {
    int n = 0;
    for (auto t : kLeaps)
        if (unix_s >= static_cast<double>(t)) ++n;
    return n;
}

double gps_to_unix(double gps_s) {
    check_finite_after_epoch(gps_s, 0, "GPS time");
    // Leap i took effect at GPS time (kLeaps[i] - epoch + i + 1); before it, i leap seconds had passed.
    // The inserted second itself (the GPS second before that) maps to the leap's own Unix second, as does the
    // second after it.
    int n = 0;
    for (std::size_t i = 0; i < kLeaps.size(); ++i) {
        const auto passed = static_cast<std::int64_t>(i) + 1;  // leap seconds once this one took effect
        const auto leap_gps = static_cast<double>(kLeaps[i] - kGpsEpochUnix + passed);
        if (gps_s >= leap_gps) n = static_cast<int>(i) + 1;
        else if (gps_s >= leap_gps - 1) return static_cast<double>(kLeaps[i]);
    }
    return gps_s + static_cast<double>(kGpsEpochUnix) - n;
}

double unix_to_gps(double unix_s) {
    check_finite_after_epoch(unix_s, static_cast<double>(kGpsEpochUnix), "Unix time");
    return unix_s - static_cast<double>(kGpsEpochUnix) + leap_seconds_at_unix(unix_s);
}

std::int64_t gps_to_unix_ms_ceil(double gps_s) {
    const double unix_s = gps_to_unix(gps_s);
    const double whole = std::floor(unix_s);
    // A double near 1.4e9 s carries ~2.4e-7 s of noise: a fraction within a microsecond below a whole
    // millisecond is that millisecond ("...0.123" must not become 124 ms).
    const double frac_ms = std::ceil((unix_s - whole) * 1000.0 - 1e-3);
    return static_cast<std::int64_t>(whole) * 1000 + static_cast<std::int64_t>(frac_ms);
}

}  // namespace gracedb::detail
