// gracedb::StopSignals: SIGINT and SIGTERM as a request to stop, for loops that must end cleanly (a stream,
// the supervisor, a command-line tool). The one mechanism of the library: Consumer::stream() and
// Supervisor::run() use it too. Installations are shared and reference-counted: the first guard installs
// handlers that only set an atomic flag, the last one restores the previous handlers and clears the flag, so a
// signal that ended one loop does not cut later calls short.
#pragma once

#include <gracedb/export.hpp>

namespace gracedb {

/// A guard that turns SIGINT and SIGTERM into a stop request (received()) while it lives. Shared and
/// reference-counted: the last guard restores the previous handlers and clears the flag.
class GRACEDB_EXPORT StopSignals {
public:
    /// Installs the handlers if no other guard holds them (clearing the flag). Thread-safe.
    StopSignals();
    /// Restores the previous handlers when the last guard goes. Thread-safe; never throws.
    ~StopSignals();
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

    /// True once SIGINT or SIGTERM arrived while a guard is held. Async-signal-safe, any thread.
    static bool received() noexcept;
    /// The signal that arrived (SIGINT or SIGTERM), 0 when none.
    static int signal_number() noexcept;
};

}  // namespace gracedb
