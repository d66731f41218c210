#include <gracedb/signals.hpp>

#include <atomic>
#include <csignal>
#include <mutex>
#include <string>

#include "common/log.hpp"
#include "client/core/signals.hpp"

namespace gracedb {
namespace {

// Written by the handler, read from any thread: a lock-free atomic is async-signal-safe.
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

std::mutex g_mutex;
int g_holders = 0;
struct sigaction g_old_int {};
struct sigaction g_old_term {};

extern "C" void on_stop_signal(int sig) { g_signal.store(sig, std::memory_order_relaxed); }

}  // namespace

namespace detail {
void acquire_stop_signals() {
    std::lock_guard lock{g_mutex};
    if (g_holders++ > 0) return;
    g_signal.store(0);
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
    // Cleared with the last holder: a signal that ended one loop must not cut later calls short.
    if (const int sig = g_signal.exchange(0); sig != 0)
        detail::log_info("stopped by signal " + std::to_string(sig) + "; previous handlers restored");
}

}  // namespace detail

StopSignals::StopSignals() { detail::acquire_stop_signals(); }
StopSignals::~StopSignals() { detail::release_stop_signals(); }
bool StopSignals::received() noexcept { return g_signal.load(std::memory_order_relaxed) != 0; }
int StopSignals::signal_number() noexcept { return g_signal.load(std::memory_order_relaxed); }

}  // namespace gracedb
