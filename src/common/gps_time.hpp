// GPS time <-> UTC (Unix time), with the table of leap seconds. Private: the consumer's replay window
// (ConsumerOptions::since_gps/until_gps) and the tool use it. GPS time counts SI seconds since
// 1980-01-06T00:00:00 UTC without leap seconds; Unix time skips them, so GPS - UTC grows by one at each leap
// second (18 s since 2017-01-01).
#pragma once

#include <cstdint>

namespace gracedb::detail {

/// Unix seconds of the GPS epoch, 1980-01-06T00:00:00 UTC.
inline constexpr std::int64_t kGpsEpochUnix = 315964800;

/// GPS - UTC in seconds at the Unix time `unix_s` (0 before the first leap second after the GPS epoch).
int leap_seconds_at_unix(double unix_s) noexcept;

/// GPS seconds -> Unix seconds. The inserted second 23:59:60 maps to the next day's 00:00:00 (Unix time has
/// no name for it). Throws std::invalid_argument for a value that is not finite or before the GPS epoch.
double gps_to_unix(double gps_s);
/// Unix seconds -> GPS seconds. Throws std::invalid_argument for a value that is not finite or before the
/// GPS epoch.
double unix_to_gps(double unix_s);

/// The first Kafka timestamp (Unix milliseconds) at or after GPS time `gps_s`: sub-millisecond parts round
/// up, so "timestamp >= result" is the same as "the message is at or after gps_s". Throws as gps_to_unix.
std::int64_t gps_to_unix_ms_ceil(double gps_s);

}  // namespace gracedb::detail
