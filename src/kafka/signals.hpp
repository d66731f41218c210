// Private: SIGINT/SIGTERM handling for Consumer::stream(). One installation shared by concurrent streams
// (reference-counted); the handler only sets an atomic flag; the previous handlers come back at the end.
#pragma once

namespace gracedb::kafka::detail_client {

/// Installs the handlers when the first holder arrives (clearing the flag). Thread-safe.
void acquire_stop_signals();
/// Restores the previous handlers when the last holder leaves. Thread-safe; never throws.
void release_stop_signals() noexcept;
/// True once SIGINT or SIGTERM arrived since the installation.
bool stop_signal_received() noexcept;

}  // namespace gracedb::kafka::detail_client
