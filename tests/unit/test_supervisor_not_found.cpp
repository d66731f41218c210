// The supervisor's 404 rule when a busy polling thread collects answers late: a never-reserved graceid's
// first 404 and another event's success, handed over in one batch, still count in the order they came.
#include <gracedb/supervisor.hpp>
#include <gracedb/testing/standin.hpp>
#include <gtest/gtest.h>

#include <thread>

#include "mock_world.hpp"

using namespace gracedb;
using namespace gracedb::testing_support;

// Found under load (the 80-message test stalled to its ctest timeout): each answer was stamped with the time
// the polling thread handled its batch, so a first 404 and the success after it had the same time, and "a
// success after the first 404" never held for that graceid once the uploads went quiet.
TEST(SupervisorMock, A404AndTheSuccessAfterItCollectedTogetherStillJudgeTheGraceid) {
    MockWorld w{1, 300ms};  // every upload attempt, a 404 too, is answered after 300 ms
    const std::string unreserved = "G9100000";
    {
        auto p = w.producer();
        p.produce(nlohmann::json{{"type", "event"}, {"graceid", unreserved}, {"group", "CBC"},
                                 {"pipeline", w.pipeline}, {"eventFile", {"e.xml", "ZQ=="}}},
                  {.key = unreserved});
        ASSERT_EQ(p.flush(20s), 0);
    }
    const auto ids = w.submit(1);  // behind it
    auto o = w.options("g-404-batch-" + w.instance);
    o.max_in_flight = 1;  // one worker: the 404 is answered before the upload
    o.never_reserved_after = 500ms;
    Supervisor s{o};
    ASSERT_TRUE(step_until(s, [&] { return s.stats().in_flight == 2; }, 30s)) << "both taken";
    EXPECT_EQ(s.stats().retries, 0u) << "the 404 was collected before the upload was taken: no batch";
    // No step while the worker answers both: the next step collects the 404 and the success together, as a
    // polling thread short of CPU does. The upload is seen on the stand-in; the worker's hand-over of its
    // answer cannot be seen from outside, hence the short pause (it only makes the old defect show).
    const auto deadline = Clock::now() + 30s;
    while (!w.standin->event(ids[0]) && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(w.standin->event(ids[0])) << "uploaded";
    std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(step_until(s, [&] { return s.stats().dead_lettered == 1; }, 20s))
        << "a success came after its first 404 and 404s lasted never_reserved_after: never reserved; retries "
        << s.stats().retries;
    EXPECT_EQ(s.stats().uploaded, 1u);
}
