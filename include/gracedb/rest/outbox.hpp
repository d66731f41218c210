// The publisher's crash-safe outbox (GraceDbOptions::outbox): what it holds and how to read it. Each
// create_event over Kafka is journaled in an SQLite file in the outbox directory (fsync'd) before its graceid
// is reserved, and again at each step, so that an event accepted by a process that then crashed is completed
// later (GraceDb::resume_outbox, at the start of a client with the outbox, or `gracedb-kafka outbox resume`).
#pragma once

#include <gracedb/export.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gracedb {

/// One event journaled in an outbox. `state` is one of:
///   - "reserving": journaled; its graceid reservation may have been sent, its answer not yet journaled;
///   - "reserved": graceid known (`graceid`), not yet handed to Kafka;
///   - "published": handed to Kafka, its delivery not (yet) confirmed;
///   - "acknowledged": delivered to Kafka: the supervisor uploads it (finished for the outbox);
///   - "completed": uploaded over HTTP with the idempotent reserved upload (finished);
///   - "creating": a plain HTTP creation (http_fallback after a failed reservation) whose answer was not
///     journaled: the event may exist; never repeated automatically (check GraceDB);
///   - "failed": create_event reported the failure to its caller before anything was published, or GraceDB
///     refused the entry for good (`last_error`); never repeated automatically.
struct GRACEDB_EXPORT OutboxEntry {
    std::int64_t id = 0;                  ///< the entry's number in the outbox, from 1
    std::string state{};                    ///< see above
    std::string service{};                  ///< the API root of the GraceDB service it is for
    std::string group{};                    ///< the event's group
    std::string pipeline{};                 ///< the event's pipeline
    std::optional<std::string> search{};  ///< the event's search
    bool offline = false;                 ///< the event's offline flag
    std::vector<std::string> labels{};    ///< labels to apply
    std::string filename{};                 ///< the event file's name (its bytes are in the outbox)
    std::string contents{};                 ///< the event file's bytes (only when read with them)
    std::optional<std::string> graceid{}; ///< the graceid reserved for it, once journaled
    /// Attempts that died between sending a reservation and journaling its answer: each may have left a
    /// graceid reserved in GraceDB that nobody knows and that is never uploaded (GraceDB sends no alert for
    /// a reservation, and no client can list them).
    int unknown_reservations = 0;
    std::string last_error{};               ///< the last failure seen for it, if any
    double created = 0;                   ///< when it was journaled (seconds since the Unix epoch)

    /// True for "acknowledged", "completed", "creating" and "failed": resume_outbox leaves it alone.
    bool finished() const noexcept;
    /// True when a reservation of this entry's may exist that no journal knows: unknown_reservations > 0,
    /// or state "reserving" (in flight now, or a crashed attempt that no resume has seen yet).
    bool may_hold_unknown_reservation() const noexcept;
};

/// What GraceDb::resume_outbox did.
struct GRACEDB_EXPORT OutboxResumeResult {
    std::size_t completed = 0;  ///< entries uploaded now (201, or 409: already uploaded)
    std::size_t failed = 0;     ///< entries that could not be finished now (kept for the next resume)
    std::size_t busy = 0;       ///< entries another live process (or client) is working on: left to it
    std::size_t other_service = 0;  ///< unfinished entries for another GraceDB service: left alone
    std::vector<std::string> errors{};  ///< one line per failure: "entry 7 (G100012): ..."
};

/// Every entry of the outbox in `directory`, oldest first, without their file bytes unless `with_contents`.
/// Reads only (no GraceDB needed): what `gracedb-kafka outbox status` shows. Throws gracedb::Error (code
/// invalid_configuration) when the directory holds no readable outbox.
GRACEDB_EXPORT std::vector<OutboxEntry> read_outbox(const std::string& directory, bool with_contents = false);

}  // namespace gracedb
