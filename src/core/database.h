// The SQLite database: opening, pragmas, migrations and transactions.
//
// Writes run under BEGIN IMMEDIATE with a busy timeout (plain BEGIN followed
// by a write fails under concurrent writers; see FIELD-NOTES). Foreign keys
// are on and the journal is WAL. A new database file is created mode 0600,
// and its folder is created when missing.
//
// A Database is used by one thread at a time.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace vmail {

struct Migration {
  int version;
  std::string name;
  std::string sql;
};

// Ok when `journal_mode` (what `PRAGMA journal_mode = WAL` answered) is
// "wal". Otherwise kConfig naming `path`: the NSS module reads the database
// as immutable between writes, which is only sound when writers use WAL
// (SQLite keeps "delete" on a file system without shared memory or locks).
Status check_journal_mode(const std::string& path, const std::string& journal_mode);

// The migrations compiled into the program, in order (generated from migrations/).
const std::vector<Migration>& embedded_migrations();

class Database;

// The shared store a replica writes through (src/pg): with one attached,
// Database::write takes the cluster-wide write lock, brings the replica up
// to date, runs the body while recording its changes on the shared tables,
// and commits them upstream before it commits the replica. Every call
// returns a Status; kBusy (75) when the upstream cannot be reached.
class Upstream {
 public:
  virtual ~Upstream() = default;
  // Before the replica's BEGIN IMMEDIATE: open the upstream transaction and
  // take the write lock (first, so two writers on one node cannot deadlock).
  virtual Status lock() = 0;
  // Inside the replica's transaction: apply what others committed since.
  virtual Status catch_up(Database& replica) = 0;
  // The tables whose changes are shared.
  virtual const std::vector<std::string>& tables() const = 0;
  // Inside the replica's transaction, after the body: commit `changeset`
  // (SQLite session format; may be empty) upstream.
  virtual Status commit(Database& replica, const std::string& changeset) = 0;
  // Ends an upstream transaction that did not commit. Never throws.
  virtual void rollback() noexcept = 0;
};

class Database {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  // Opens (and for kReadWrite creates) the database. Does not migrate.
  // kConfig when the database is newer than this program. kReadOnly never
  // creates anything: kNoInput when the file does not exist.
  static Result<std::unique_ptr<Database>> open(const std::string& path, Mode mode);

  // Opens read-write and applies pending migrations: what every command that
  // needs the database does first.
  static Result<std::unique_ptr<Database>> open_migrated(const std::string& path);

  // For commands that only read: the database as it is, never created,
  // migrated or written (kNoInput when the file does not exist). One of an
  // older schema is read through a copy in memory, migrated there (the file
  // keeps its version; memory grows by the database's size). kConfig when
  // the database is newer than this program.
  static Result<std::unique_ptr<Database>> open_for_reading(const std::string& path);

  int version() const;
  static int latest();
  // Applies pending migrations, each in its own IMMEDIATE transaction.
  Status migrate();
  // Copies the database as it is (no migration) to `target` through SQLite's
  // online backup API: a consistent snapshot while others write, put in place
  // (mode 0600) only when the copy holds as many rows per table as the
  // snapshot and integrity_check finds nothing in it that it does not find
  // in the original (SQLite 3.40 misreads one layout of the first schema:
  // FIELD-NOTES). kCantCreate when it cannot be made, or when `target`
  // exists and `overwrite` is false (then nothing is written).
  Status backup_to(const std::string& target, bool overwrite = false);

  // Runs `body` in a BEGIN IMMEDIATE transaction and commits when it returns
  // ok; rolls back otherwise. SQLite errors become a Status (busy -> kBusy).
  Status write(const std::function<Status()>& body);
  // write() on this file alone, even with an upstream attached: for the
  // replica's own bookkeeping (applying what the upstream committed).
  Status write_local(const std::function<Status()>& body);
  // Runs `body` in a read transaction: one consistent snapshot.
  Status read(const std::function<Status()>& body);

  // From now on every write() goes through `upstream` (nullptr: local again).
  void set_upstream(std::shared_ptr<Upstream> upstream) { upstream_ = std::move(upstream); }
  bool has_upstream() const { return upstream_ != nullptr; }

  SQLite::Database& sql() { return *db_; }
  const std::string& path() const { return path_; }

  // Recorded settings (name -> value).
  Result<std::map<std::string, std::string>> recorded_settings();
  // Records `values` (each name replaced or added; others kept), in one
  // transaction on this file: the node's own settings (what vmail-launch
  // started with), never shared upstream and not an audited change.
  Status record_settings(const std::map<std::string, std::string>& values);
  // What SQLite's integrity and foreign key checks find (`vmail db check`),
  // one line each; empty when nothing.
  Result<std::vector<std::string>> problems();

 private:
  Database(std::unique_ptr<SQLite::Database> db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}
  Status write_upstream(const std::function<Status()>& body);

  std::unique_ptr<SQLite::Database> db_;
  std::string path_;
  std::shared_ptr<Upstream> upstream_;
};

// Maps an exception from SQLiteCpp to a Status naming `context`.
Status sqlite_status(const std::exception& e, const std::string& context);

}  // namespace vmail
