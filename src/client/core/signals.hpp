// Private: the reference-counted SIGINT/SIGTERM installation behind gracedb::StopSignals, for code that
// holds it without a guard object (Consumer::Stream, which moves).
#pragma once

namespace gracedb::detail {
void acquire_stop_signals();
void release_stop_signals() noexcept;
}  // namespace gracedb::detail
