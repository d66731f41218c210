// The outbox's journal: SQLite (WAL, synchronous=FULL) and per-entry locks. See outbox.hpp.
#include "client/rest/outbox.hpp"

#include <gracedb/rest/errors.hpp>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

namespace gracedb {

bool OutboxEntry::finished() const noexcept {
    return state == "acknowledged" || state == "completed" || state == "creating" || state == "failed";
}

bool OutboxEntry::may_hold_unknown_reservation() const noexcept {
    return unknown_reservations > 0 || state == "reserving";
}

std::vector<OutboxEntry> read_outbox(const std::string& directory, bool with_contents) {
    if (!std::filesystem::exists(std::filesystem::path{directory} / "outbox.sqlite"))
        throw Error("no outbox in \"" + directory + "\" (no outbox.sqlite there): check the directory given "
                    "to --outbox / GraceDbOptions::outbox",
                    Errc::invalid_configuration);
    return rest_detail::Outbox{directory}.entries(with_contents);
}

namespace rest_detail {
namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL,
    service TEXT NOT NULL,
    grp TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    search TEXT,
    offline INTEGER NOT NULL,
    labels TEXT NOT NULL,
    filename TEXT NOT NULL,
    contents BLOB,
    graceid TEXT,
    unknown_reservations INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS entries_state ON entries(state);
)";

double now_s() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// One prepared statement, finalized at the end of the scope.
struct Stmt {
    sqlite3_stmt* s = nullptr;
    Stmt(sqlite3* db, const char* sql) {
        if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK)
            throw GraceDbError(std::string{"outbox: "} + sqlite3_errmsg(db));
    }
    ~Stmt() { sqlite3_finalize(s); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    void text(int i, const std::string& v) {
        sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    }
    void opt_text(int i, const std::optional<std::string>& v) {
        if (v) text(i, *v); else sqlite3_bind_null(s, i);
    }
    std::string column_text(int i) const {
        const auto* p = sqlite3_column_blob(s, i);
        const auto n = static_cast<std::size_t>(sqlite3_column_bytes(s, i));
        return p ? std::string(static_cast<const char*>(p), n) : std::string{};
    }
};

}  // namespace

Outbox::Outbox(const std::string& directory) : directory_{directory} {
    namespace fs = std::filesystem;
    auto fail = [&](const std::string& why) {
        if (db_) sqlite3_close(db_);
        if (lock_fd_ >= 0) ::close(lock_fd_);
        throw Error("cannot open the outbox in \"" + directory + "\": " + why +
                        " (the outbox is a directory this process may create and write: check the path and "
                        "its permissions)",
                    Errc::invalid_configuration);
    };
    std::error_code ec;
    if (directory.empty()) fail("no directory given");
    if (!fs::exists(directory, ec)) {
        fs::create_directories(directory, ec);
        if (ec) fail(ec.message());
        ::chmod(directory.c_str(), 0700);  // event files may be embargoed: this user's only
    }
    if (!fs::is_directory(directory, ec)) fail("not a directory");
    // The journal holds event files (maybe embargoed) and decides what is uploaded with this process's
    // credentials: a directory another user owns, or may write, could plant entries. Refused, as OpenSSH
    // refuses such key files.
    struct stat dir {};
    if (::stat(directory.c_str(), &dir) != 0) fail(std::strerror(errno));
    if (dir.st_uid != ::geteuid())
        fail("the directory is owned by another user (uid " + std::to_string(dir.st_uid) + ")");
    if (dir.st_mode & (S_IWGRP | S_IWOTH)) fail("other users may write the directory (chmod go-w, or 0700)");
    // The files: this user's only (0600), never through a symbolic link; SQLite gives its -wal and -shm files
    // the database file's mode.
    auto own_file = [&](const std::string& path) {
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) fail(path + ": " + std::strerror(errno) + (errno == ELOOP ? " (a symbolic link)" : ""));
        struct stat st {};
        if (::fstat(fd, &st) != 0 || st.st_uid != ::geteuid() || !S_ISREG(st.st_mode)) {
            ::close(fd);
            fail(path + ": not a regular file of this user");
        }
        if ((st.st_mode & 077) != 0) ::fchmod(fd, 0600);
        return fd;
    };
    const std::string lock_path = (fs::path{directory} / "outbox.lock").string();
    lock_fd_ = own_file(lock_path);
    const std::string db_path = (fs::path{directory} / "outbox.sqlite").string();
    ::close(own_file(db_path));
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(db_path.c_str(), &db_, flags, nullptr) != SQLITE_OK)
        fail(db_path + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory"));
    sqlite3_busy_timeout(db_, 30000);  // another process's write transaction: wait for it
    try {
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=FULL");  // each commit fsync'd before it returns
        exec(kSchema);
    } catch (const std::exception& e) {
        fail(e.what());
    }
}

Outbox::~Outbox() {
    sqlite3_close(db_);
    ::close(lock_fd_);  // drops every lock of this object
}

void Outbox::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string what = err ? err : sqlite3_errmsg(db_);
        sqlite3_free(err);
        throw GraceDbError("outbox " + directory_ + ": " + what +
                           " (the journal could not be written: check the disk and the directory)");
    }
}

bool Outbox::lock_entry(std::int64_t id) {
    if (claimed_.count(id)) return false;
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = static_cast<off_t>(id);
    fl.l_len = 1;
    if (::fcntl(lock_fd_, F_OFD_SETLK, &fl) != 0) return false;  // held by another process or client
    claimed_.insert(id);
    return true;
}

void Outbox::unlock_entry(std::int64_t id) noexcept {
    struct flock fl {};
    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = static_cast<off_t>(id);
    fl.l_len = 1;
    ::fcntl(lock_fd_, F_OFD_SETLK, &fl);
    claimed_.erase(id);
}

void Outbox::release(std::int64_t id) noexcept {
    std::lock_guard lock{mutex_};
    unlock_entry(id);
}

std::int64_t Outbox::accept(const OutboxEntry& e) {
    std::lock_guard lock{mutex_};
    exec("BEGIN IMMEDIATE");
    std::int64_t id = 0;
    try {
        Stmt st{db_, "INSERT INTO entries (state, service, grp, pipeline, search, offline, labels, filename, "
                     "contents, created, updated) VALUES ('reserving', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"};
        st.text(1, e.service);
        st.text(2, e.group);
        st.text(3, e.pipeline);
        st.opt_text(4, e.search);
        sqlite3_bind_int(st.s, 5, e.offline ? 1 : 0);
        st.text(6, nlohmann::json(e.labels).dump());
        st.text(7, e.filename);
        sqlite3_bind_blob(st.s, 8, e.contents.data(), static_cast<int>(e.contents.size()), SQLITE_TRANSIENT);
        const double t = now_s();
        sqlite3_bind_double(st.s, 9, t);
        sqlite3_bind_double(st.s, 10, t);
        if (sqlite3_step(st.s) != SQLITE_DONE)
            throw GraceDbError(std::string{"outbox: "} + sqlite3_errmsg(db_));
        id = sqlite3_last_insert_rowid(db_);
        // Claimed before it is visible: no resumer can take an entry whose creator is still at work.
        if (!lock_entry(id)) throw GraceDbError("outbox: entry " + std::to_string(id) + " is locked already");
        exec("COMMIT");  // durable from here: the event is accepted
    } catch (...) {
        if (id) unlock_entry(id);
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    return id;
}

void Outbox::record(std::int64_t id, const std::string& state, const std::optional<std::string>& graceid,
                    const std::string& error) {
    std::lock_guard lock{mutex_};
    // A finished entry drops its file bytes: the outbox keeps the record, not the data.
    const bool finished = OutboxEntry{.state = state}.finished() && state != "creating";
    Stmt st{db_, finished ? "UPDATE entries SET state = ?, graceid = coalesce(?, graceid), last_error = ?, "
                            "updated = ?, contents = NULL WHERE id = ?"
                          : "UPDATE entries SET state = ?, graceid = coalesce(?, graceid), last_error = ?, "
                            "updated = ? WHERE id = ?"};
    st.text(1, state);
    st.opt_text(2, graceid);
    st.text(3, error);
    sqlite3_bind_double(st.s, 4, now_s());
    sqlite3_bind_int64(st.s, 5, id);
    if (sqlite3_step(st.s) != SQLITE_DONE)
        throw GraceDbError("outbox " + directory_ + ": entry " + std::to_string(id) + " not journaled as " +
                           state + ": " + sqlite3_errmsg(db_));
}

void Outbox::add_unknown_reservation(std::int64_t id) {
    std::lock_guard lock{mutex_};
    Stmt st{db_,
            "UPDATE entries SET unknown_reservations = unknown_reservations + 1, updated = ? WHERE id = ?"};
    sqlite3_bind_double(st.s, 1, now_s());
    sqlite3_bind_int64(st.s, 2, id);
    if (sqlite3_step(st.s) != SQLITE_DONE)
        throw GraceDbError("outbox " + directory_ + ": entry " + std::to_string(id) + ": " +
                           sqlite3_errmsg(db_));
}

std::vector<OutboxEntry> Outbox::select(const char* where, std::int64_t id, bool with_contents) const {
    std::string sql = std::string{"SELECT id, state, service, grp, pipeline, search, offline, labels, "
                                  "filename, "} +
                      (with_contents ? "contents" : "NULL") +
                      ", graceid, unknown_reservations, last_error, created FROM entries " + where +
                      " ORDER BY id";
    Stmt st{db_, sql.c_str()};
    if (id) sqlite3_bind_int64(st.s, 1, id);
    std::vector<OutboxEntry> out;
    int rc;
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
        OutboxEntry e;
        e.id = sqlite3_column_int64(st.s, 0);
        e.state = st.column_text(1);
        e.service = st.column_text(2);
        e.group = st.column_text(3);
        e.pipeline = st.column_text(4);
        if (sqlite3_column_type(st.s, 5) != SQLITE_NULL) e.search = st.column_text(5);
        e.offline = sqlite3_column_int(st.s, 6) != 0;
        e.labels = nlohmann::json::parse(st.column_text(7), nullptr, false).get<std::vector<std::string>>();
        e.filename = st.column_text(8);
        e.contents = st.column_text(9);
        if (sqlite3_column_type(st.s, 10) != SQLITE_NULL) e.graceid = st.column_text(10);
        e.unknown_reservations = sqlite3_column_int(st.s, 11);
        e.last_error = st.column_text(12);
        e.created = sqlite3_column_double(st.s, 13);
        out.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE) throw GraceDbError("outbox " + directory_ + ": " + sqlite3_errmsg(db_));
    return out;
}

std::vector<OutboxEntry> Outbox::entries(bool with_contents) const {
    std::lock_guard lock{mutex_};
    return select("", 0, with_contents);
}

std::optional<OutboxEntry> Outbox::claim(std::int64_t id) {
    std::lock_guard lock{mutex_};
    if (!lock_entry(id)) return std::nullopt;
    try {
        // Read after the lock: a process that finished it and died just before is seen as finished.
        auto rows = select("WHERE id = ?", id, true);
        if (rows.empty() || rows.front().finished()) {
            unlock_entry(id);
            return std::nullopt;
        }
        return std::move(rows.front());
    } catch (...) {
        unlock_entry(id);
        throw;
    }
}

}  // namespace rest_detail
}  // namespace gracedb
