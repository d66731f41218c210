// Private to the supervisor: flow control, whether fetching pauses. Messages held (taken, not done) are the
// uploads running and a queue for the next free workers, deep enough to keep them busy across the pause that
// follows a resume. Fetching pauses at the limit, resumes at half of it, and stays paused while blocked.
#pragma once

#include <cstddef>

#include "supervisor/partitions.hpp"

namespace gracedb::supervisor_detail {

class FlowControl {
public:
    explicit FlowControl(std::size_t max_in_flight) : limit_{4 * max_in_flight + 64} {}

    /// Pauses or resumes `partitions` for `pending` messages held, of which `judged_later` wait for the
    /// verdict of the 404 rule, `blocked` when uploads do not work at all.
    void update(Partitions& partitions, std::size_t pending, std::size_t judged_later, bool blocked);

    /// 404s waiting for their verdict (the 404 rule) do not fill the window, up to kNotFoundAllowance x the
    /// limit: messages anyone may write (never-reserved graceids on the open test topic) must not stop the
    /// supervisor, and the other uploads succeeding meanwhile are what lets them be judged.
    static constexpr std::size_t kNotFoundAllowance = 4;

private:
    std::size_t limit_;
    bool window_full_ = false;
};

}  // namespace gracedb::supervisor_detail
