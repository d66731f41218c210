#include "kafka/signals.hpp"

#include <atomic>
#include <csignal>
#include <mutex>

#include "detail/log.hpp"

namespace gracedb::kafka::detail_client {
namespace {

volatile std::sig_atomic_t g_signal = 0;
static_assert(std::atomic<bool>::is_always_lock_free);

std::mutex g_mutex;
int g_holders = 0;
struct sigaction g_old_int {};
struct sigaction g_old_term {};

extern "C" void on_stop_signal(int sig) { g_signal = sig; }

}  // namespace

void acquire_stop_signals() {
    std::lock_guard lock{g_mutex};
    if (g_holders++ > 0) return;
    g_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = &on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocking call returns, the loop looks at the flag
    sigaction(SIGINT, &sa, &g_old_int);
    sigaction(SIGTERM, &sa, &g_old_term);
}

void release_stop_signals() noexcept {
    std::lock_guard lock{g_mutex};
    if (g_holders == 0 || --g_holders > 0) return;
    sigaction(SIGINT, &g_old_int, nullptr);
    sigaction(SIGTERM, &g_old_term, nullptr);
    if (g_signal) gracedb::detail::log_info("stream ended by signal " + std::to_string(g_signal) + "; previous handlers restored");
}

bool stop_signal_received() noexcept { return g_signal != 0; }

}  // namespace gracedb::kafka::detail_client
