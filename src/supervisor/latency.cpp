// LatencySummary: a log-bucket histogram. Bucket 0 holds values up to kSmallest; bucket i (1..N) holds values
// in (kSmallest * 2^((i-1)/B), kSmallest * 2^(i/B)]; the last bucket holds everything above.
#include <gracedb/supervisor.hpp>

#include <algorithm>
#include <cmath>

namespace gracedb {

namespace {
constexpr int kFinite = LatencySummary::kBucketsPerDoubling * LatencySummary::kDoublings;

double upper_bound_of(int bucket) {
    return LatencySummary::kSmallest * std::exp2(static_cast<double>(bucket) / LatencySummary::kBucketsPerDoubling);
}
}  // namespace

void LatencySummary::add(double seconds) noexcept {
    if (!std::isfinite(seconds)) return;
    int bucket = 0;
    if (seconds > kSmallest) {
        const double b = std::ceil(std::log2(seconds / kSmallest) * kBucketsPerDoubling);
        bucket = b > kFinite ? kFinite + 1 : std::max(1, static_cast<int>(b));
    }
    ++buckets[static_cast<std::size_t>(bucket)];
    if (count == 0 || seconds > max_s) max_s = seconds;
    ++count;
    sum_s += seconds;
}

double LatencySummary::quantile(double q) const noexcept {
    if (count == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count))));
    std::uint64_t seen = 0;
    for (int i = 0; i < static_cast<int>(buckets.size()); ++i) {
        seen += buckets[static_cast<std::size_t>(i)];
        if (seen < rank) continue;
        if (i == 0) return std::min(kSmallest / 2, max_s);
        if (i > kFinite) return max_s;
        const double middle = std::sqrt(upper_bound_of(i - 1) * upper_bound_of(i));  // geometric middle
        return std::min(middle, max_s);
    }
    return max_s;
}

}  // namespace gracedb
