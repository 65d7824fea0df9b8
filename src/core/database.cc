#include "core/database.h"

#include "core/files.h"

#include <SQLiteCpp/Backup.h>
#include <SQLiteCpp/Transaction.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <stdexcept>
#include <thread>

namespace vmail {
namespace {

constexpr int kBusyTimeoutMs = 10000;

// Creates the file with mode 0600 before SQLite does, so that a new database
// never exists with a wider mode.
Status create_private_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Status::Ok();
    return Status(Code::kCantCreate, path + ": cannot create database: " + std::strerror(errno));
  }
  ::close(fd);
  return Status::Ok();
}

// Copies every page of `from` into `to`. A step can return BUSY or LOCKED
// with the copy unfinished: step again (the backup restarts if the source
// changed meanwhile).
void copy_pages(SQLite::Database& to, SQLite::Database& from) {
  SQLite::Backup backup(to, from);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  while (backup.executeStep(-1) != SQLITE_DONE) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("database stayed busy");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// What `PRAGMA integrity_check` finds, one a line (none: the check passed).
std::vector<std::string> integrity_findings(SQLite::Database& db) {
  std::vector<std::string> out;
  SQLite::Statement q(db, "PRAGMA integrity_check");
  while (q.executeStep()) {
    std::string line = q.getColumn(0).getString();
    if (line != "ok") out.push_back(line);
  }
  return out;
}

// Why `copy` is not a faithful copy of `original` (read in the same
// snapshot), or "". The copy is judged against the original, not against a
// perfect score: SQLite 3.40 reports a false NULL in the first schema's
// alias_destinations (FIELD-NOTES), in the original and in every copy.
std::string copy_differs(SQLite::Database& original, SQLite::Database& copy) {
  std::vector<std::string> found = integrity_findings(copy);
  if (!found.empty()) {
    std::vector<std::string> known = integrity_findings(original);
    for (const std::string& line : found) {
      if (std::find(known.begin(), known.end(), line) == known.end()) {
        return "the copy failed its integrity check: " + line;
      }
    }
  }
  SQLite::Statement tables(original, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  while (tables.executeStep()) {
    std::string name = tables.getColumn(0).getString();
    std::string quoted;
    for (char c : name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    std::string count = "SELECT count(*) FROM \"" + quoted + "\"";
    int64_t want = original.execAndGet(count).getInt64();
    int64_t got = copy.execAndGet(count).getInt64();
    if (got != want) {
      return "table " + name + " has " + std::to_string(got) + " rows in the copy, " + std::to_string(want) +
             " in the original";
    }
  }
  return "";
}

}  // namespace

Status sqlite_status(const std::exception& e, const std::string& context) {
  if (const auto* se = dynamic_cast<const SQLite::Exception*>(&e)) {
    int code = se->getErrorCode() & 0xff;
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
      return Status(Code::kBusy, context + ": database busy past its timeout");
    }
    if (code == SQLITE_READONLY || code == SQLITE_CANTOPEN || code == SQLITE_PERM) {
      return Status(Code::kCantCreate, context + ": " + se->what());
    }
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
      return Status(Code::kConfig, context + ": not a valid vmail database: " + se->what());
    }
  }
  return Status(Code::kInternal, context + ": " + e.what());
}

Status check_journal_mode(const std::string& path, const std::string& journal_mode) {
  if (journal_mode == "wal") return Status::Ok();
  return Status(Code::kConfig, path + ": SQLite cannot use WAL journal mode here (it kept " + quote(journal_mode) +
                                   "); vmail needs WAL: put the database on a local file system");
}

Result<std::unique_ptr<Database>> Database::open(const std::string& path, Mode mode) {
  if (mode == Mode::kReadOnly) {
    // Said here in words: SQLite would only report "unable to open database file".
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
      return Status(Code::kNoInput, path + ": no such database (`vmail db migrate` creates it)");
    }
  }
  try {
    int flags = SQLITE_OPEN_READONLY;
    if (mode == Mode::kReadWrite) {
      if (Status s = make_dirs(dir_of(path), 0755); !s.ok()) return s;
      if (Status s = create_private_file(path); !s.ok()) return s;
      flags = SQLITE_OPEN_READWRITE;
    }
    // A Database is used by one thread at a time: NOMUTEX spares SQLite's
    // per-call mutex (measurable when an export reads 100k rows).
    auto db =
        std::make_unique<SQLite::Database>(path, flags | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, kBusyTimeoutMs);
    db->exec("PRAGMA foreign_keys = ON");
    if (mode == Mode::kReadWrite) {
      std::string journal = db->execAndGet("PRAGMA journal_mode = WAL").getString();
      if (Status s = check_journal_mode(path, journal); !s.ok()) return s;
      // FULL: every commit is fsynced before the CLI reports it done. Under
      // NORMAL a WAL commit can roll back after a power loss while the
      // exported files (fsynced) keep it, and the next export would revert
      // them: a revoked password could come back. The database is never less
      // durable than the files made from it.
      db->exec("PRAGMA synchronous = FULL");
    }
    std::unique_ptr<Database> out(new Database(std::move(db), path));
    if (out->version() > latest()) {
      return Status(Code::kConfig, path + ": database schema version " + std::to_string(out->version()) +
                                       " is newer than this program's " + std::to_string(latest()) + "; upgrade vmail");
    }
    return out;
  } catch (const std::exception& e) {
    return sqlite_status(e, path);
  }
}

Result<std::unique_ptr<Database>> Database::open_for_reading(const std::string& path) {
  auto db = open(path, Mode::kReadOnly);
  if (!db.ok() || (*db)->version() >= latest()) return db;
  try {
    auto memory = std::make_unique<SQLite::Database>(
        ":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, kBusyTimeoutMs);
    copy_pages(*memory, (*db)->sql());
    memory->exec("PRAGMA foreign_keys = ON");
    std::unique_ptr<Database> out(new Database(std::move(memory), path));
    if (Status s = out->migrate(); !s.ok()) return s;
    return out;
  } catch (const std::exception& e) {
    return sqlite_status(e, path);
  }
}

Result<std::unique_ptr<Database>> Database::open_migrated(const std::string& path) {
  auto db = open(path, Mode::kReadWrite);
  if (!db.ok()) return db;
  if (Status s = (*db)->migrate(); !s.ok()) return s;
  return db;
}

int Database::version() const { return db_->execAndGet("PRAGMA user_version").getInt(); }

int Database::latest() {
  const auto& all = embedded_migrations();
  return all.empty() ? 0 : all.back().version;
}

Status Database::migrate() {
  for (const Migration& m : embedded_migrations()) {
    Status s = write([&]() -> Status {
      // Re-read inside the transaction: another process may have migrated.
      int current = version();
      if (current >= m.version) return Status::Ok();
      if (current != m.version - 1) {
        return Status(Code::kConfig, path_ + ": schema version " + std::to_string(current) + " cannot be migrated to " +
                                         std::to_string(m.version));
      }
      db_->exec(m.sql);
      db_->exec("PRAGMA user_version = " + std::to_string(m.version));
      return Status::Ok();
    });
    if (!s.ok()) return Status(s.code(), "migration " + std::to_string(m.version) + " " + m.name + ": " + s.message());
  }
  return Status::Ok();
}

Status Database::write(const std::function<Status()>& body) {
  return upstream_ ? write_upstream(body) : write_local(body);
}

// Records the changes `body` makes to the upstream's tables as a SQLite
// session changeset (the form followers apply with sqlite3changeset_apply).
Status Database::write_upstream(const std::function<Status()>& body) {
  if (Status s = upstream_->lock(); !s.ok()) {
    upstream_->rollback();
    return s;
  }
  Status result = write_local([&]() -> Status {
    if (Status s = upstream_->catch_up(*this); !s.ok()) return s;
    sqlite3_session* session = nullptr;
    if (sqlite3session_create(db_->getHandle(), "main", &session) != SQLITE_OK) {
      return Status(Code::kInternal, path_ + ": cannot record the change");
    }
    std::unique_ptr<sqlite3_session, decltype(&sqlite3session_delete)> owned(session, &sqlite3session_delete);
    for (const std::string& table : upstream_->tables()) {
      if (sqlite3session_attach(session, table.c_str()) != SQLITE_OK) {
        return Status(Code::kInternal, path_ + ": cannot record changes of " + table);
      }
    }
    if (Status s = body(); !s.ok()) return s;
    int size = 0;
    void* data = nullptr;
    if (sqlite3session_changeset(session, &size, &data) != SQLITE_OK) {
      return Status(Code::kInternal, path_ + ": cannot read the recorded change");
    }
    std::string changeset(static_cast<const char*>(data), static_cast<size_t>(size));
    sqlite3_free(data);
    return upstream_->commit(*this, changeset);
  });
  if (!result.ok()) upstream_->rollback();
  return result;
}

Status Database::write_local(const std::function<Status()>& body) {
  try {
    db_->exec("BEGIN IMMEDIATE");
  } catch (const std::exception& e) {
    return sqlite_status(e, path_);
  }
  Status result;
  try {
    result = body();
    if (result.ok()) db_->exec("COMMIT");
  } catch (const std::exception& e) {
    result = sqlite_status(e, path_);
  }
  if (!result.ok() && sqlite3_get_autocommit(db_->getHandle()) == 0) {
    try {
      db_->exec("ROLLBACK");
    } catch (...) {
      // SQLite already rolled back; nothing was committed.
    }
  }
  return result;
}

Status Database::read(const std::function<Status()>& body) {
  try {
    db_->exec("BEGIN");
  } catch (const std::exception& e) {
    return sqlite_status(e, path_);
  }
  Status result;
  try {
    result = body();
  } catch (const std::exception& e) {
    result = sqlite_status(e, path_);
  }
  try {
    db_->exec("COMMIT");
  } catch (...) {
  }
  return result;
}

Result<std::map<std::string, std::string>> Database::recorded_settings() {
  std::map<std::string, std::string> out;
  try {
    SQLite::Statement q(*db_, "SELECT name, value FROM settings ORDER BY name");
    while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getString();
  } catch (const std::exception& e) {
    return sqlite_status(e, path_);
  }
  return out;
}

Status Database::record_settings(const std::map<std::string, std::string>& values) {
  return write_local([&]() -> Status {
    SQLite::Statement q(*db_,
                        "INSERT INTO settings (name, value) VALUES (?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET value = excluded.value");
    for (const auto& [name, value] : values) {
      q.bind(1, name);
      q.bind(2, value);
      q.exec();
      q.reset();
    }
    return Status::Ok();
  });
}

Result<std::vector<std::string>> Database::problems() {
  std::vector<std::string> problems;
  try {
    SQLite::Statement integrity(*db_, "PRAGMA integrity_check");
    while (integrity.executeStep()) {
      std::string line = integrity.getColumn(0).getString();
      if (line != "ok") problems.push_back("integrity: " + line);
    }
    SQLite::Statement fk(*db_, "PRAGMA foreign_key_check");
    while (fk.executeStep()) {
      problems.push_back("foreign key: table " + fk.getColumn(0).getString() + " row " + fk.getColumn(1).getString() +
                         " refers to a missing " + fk.getColumn(2).getString());
    }
  } catch (const std::exception& e) {
    return sqlite_status(e, path_);
  }
  return problems;
}

Status Database::backup_to(const std::string& target, bool overwrite) {
  // The target's folder may be one others can write (a shared backup
  // folder): no file there is opened by name. The copy is made in memory,
  // judged, and written through the file layer (a fresh O_EXCL temp file,
  // 0600 and root's, renamed onto the target, or renamed only if the target
  // does not exist), so a file or symlink planted under either name is never
  // written into.
  std::string name = base_name(target);
  if (!is_path_component(name)) return Status(Code::kCantCreate, target + ": not a file name");
  auto folder = Dir::open(dir_of(target));
  if (!folder.ok()) return folder.status();
  if (!overwrite && folder->has(name)) {
    return Status(Code::kCantCreate, target + ": exists; a backup never replaces a file");
  }
  std::string bytes;
  try {
    SQLite::Database dest(":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    {
      // One snapshot of the original for the copy and for judging it.
      SQLite::Transaction snapshot(*db_);
      db_->execAndGet("SELECT count(*) FROM sqlite_master");
      copy_pages(dest, *db_);
      // Never put a copy in place that is worse than what it copies.
      if (std::string why = copy_differs(*db_, dest); !why.empty()) throw std::runtime_error(why);
    }
    sqlite3_int64 size = 0;
    unsigned char* data = sqlite3_serialize(dest.getHandle(), "main", &size, 0);
    if (data == nullptr) throw std::runtime_error("cannot serialize the copy (out of memory?)");
    bytes.assign(reinterpret_cast<const char*>(data), static_cast<size_t>(size));
    sqlite3_free(data);
  } catch (const std::exception& e) {
    return Status(Code::kCantCreate, target + ": backup failed: " + e.what());
  }
  FileOptions options{0600, std::nullopt, std::nullopt};
  options.replace = overwrite;
  Status written = folder->write_file(name, bytes, options);
  if (!written.ok() && !overwrite && folder->has(name)) {
    return Status(Code::kCantCreate, target + ": exists; a backup never replaces a file");
  }
  return written;
}

}  // namespace vmail
