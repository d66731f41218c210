// Private: the outbox's journal (GraceDbOptions::outbox). An SQLite database in the outbox directory
// (outbox.sqlite, WAL, synchronous=FULL: every commit is fsync'd before it returns) holds one row per event;
// outbox.lock holds one byte-range lock (an open-file-description lock, released by the kernel when the
// process dies) per entry being worked on, so two processes, or two clients in one, never finish the same
// entry. Thread-safe.
#pragma once

#include <gracedb/rest/outbox.hpp>

#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

struct sqlite3;

namespace gracedb::rest_detail {

class Outbox {
public:
    /// Opens (creating it, mode 0700, if needed) the outbox in `directory`. Throws gracedb::Error (code
    /// invalid_configuration) naming the directory and the cause when it cannot.
    explicit Outbox(const std::string& directory);
    ~Outbox();
    Outbox(const Outbox&) = delete;
    Outbox& operator=(const Outbox&) = delete;

    /// Journals a new entry in state "reserving", durably, and claims it (release() when done). Its id.
    /// Throws GraceDbError when the journal cannot be written: then nothing was accepted.
    std::int64_t accept(const OutboxEntry& entry);
    /// Journals a step: the new state, the graceid when given, the error (empty: cleared). Durable on return.
    /// Throws GraceDbError when the journal cannot be written.
    void record(std::int64_t id, const std::string& state, const std::optional<std::string>& graceid = {},
                const std::string& error = {});
    /// Counts one attempt that may have left an unknown reservation (durably).
    void add_unknown_reservation(std::int64_t id);
    /// Every entry, oldest first (file bytes only when `with_contents`).
    std::vector<OutboxEntry> entries(bool with_contents) const;
    /// Claims an unfinished entry for this object: its current row (with the file bytes), or nothing when
    /// another process or client holds it, or it is finished by now.
    std::optional<OutboxEntry> claim(std::int64_t id);
    /// Ends a claim (accept's or claim's).
    void release(std::int64_t id) noexcept;

    const std::string& directory() const noexcept { return directory_; }

private:
    bool lock_entry(std::int64_t id);  // mutex_ held
    void unlock_entry(std::int64_t id) noexcept;
    void exec(const char* sql);        // mutex_ held
    std::vector<OutboxEntry> select(const char* where, std::int64_t id, bool with_contents) const;

    std::string directory_;
    sqlite3* db_ = nullptr;
    int lock_fd_ = -1;
    mutable std::mutex mutex_;
    std::set<std::int64_t> claimed_;  // entries this object works on
};

/// RAII for a claim: releases it at the end of the scope.
class OutboxClaim {
public:
    OutboxClaim(Outbox& box, std::int64_t id) : box_{&box}, id_{id} {}
    ~OutboxClaim() { box_->release(id_); }
    OutboxClaim(const OutboxClaim&) = delete;
    OutboxClaim& operator=(const OutboxClaim&) = delete;
    std::int64_t id() const noexcept { return id_; }
    Outbox& box() const noexcept { return *box_; }

private:
    Outbox* box_;
    std::int64_t id_;
};

}  // namespace gracedb::rest_detail
