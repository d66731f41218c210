// Flow control: whether fetching pauses (flow_control.hpp).
#include "supervisor/flow_control.hpp"

#include <algorithm>

namespace gracedb::supervisor_detail {

void FlowControl::update(Partitions& partitions, std::size_t pending, std::size_t judged_later,
                         bool blocked) {
    pending -= std::min({judged_later, pending, kNotFoundAllowance * limit_});
    if (!window_full_ && pending >= limit_) window_full_ = true;
    else if (window_full_ && pending <= limit_ / 2) window_full_ = false;
    // Blocked with nothing held (a rebalance took what it held): fetch again, so that a message can show
    // whether uploads work again.
    const bool want = window_full_ || (blocked && pending > 0);
    // Again when a resume failed (a partition still paused though none is wanted).
    if (want != partitions.paused() || (!want && partitions.paused_count() > 0)) partitions.want_paused(want);
}

}  // namespace gracedb::supervisor_detail
