// gracedb::StopSignals: the one SIGINT/SIGTERM mechanism (streams, the supervisor, the tool).
#include <gracedb/signals.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <optional>

namespace {
int g_previous_handler_calls = 0;
extern "C" void previous_handler(int) { ++g_previous_handler_calls; }
}  // namespace

TEST(StopSignalsSerial, ASignalIsSeenWhileHeldAndForgottenWhenTheLastGuardGoes) {
    struct sigaction mine {};
    mine.sa_handler = &previous_handler;
    sigemptyset(&mine.sa_mask);
    struct sigaction before {};
    ASSERT_EQ(sigaction(SIGTERM, &mine, &before), 0);
    {
        gracedb::StopSignals outer;
        {
            gracedb::StopSignals inner;  // shared installation
            EXPECT_FALSE(gracedb::StopSignals::received());
            std::raise(SIGTERM);
            EXPECT_TRUE(gracedb::StopSignals::received());
            EXPECT_EQ(gracedb::StopSignals::signal_number(), SIGTERM);
        }
        EXPECT_TRUE(gracedb::StopSignals::received()) << "still held by the outer guard";
    }
    // Regression: the flag stayed set after the last guard, and cut every later poll() in the process short.
    EXPECT_FALSE(gracedb::StopSignals::received());
    EXPECT_EQ(gracedb::StopSignals::signal_number(), 0);
    EXPECT_EQ(g_previous_handler_calls, 0) << "our handler, not the previous one, ran while held";
    std::raise(SIGTERM);  // the previous handler is back
    EXPECT_EQ(g_previous_handler_calls, 1);
    sigaction(SIGTERM, &before, nullptr);
}
