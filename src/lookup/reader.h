// Reader freshness for the lookups (src/lookup/lookup.h explains the scheme):
// one cached read-only SQLite connection per thread, opened `immutable=1`
// while no -wal file exists and ordinarily otherwise, and never reused for a
// database that may have changed since. Row formatting is not here.
//
// Nothing here throws, logs, writes or creates a file. Not for use after
// fork() with a parent's connection: a slot filled before the last fork is
// abandoned, never closed, in the child.
#pragma once

#include <sqlite3.h>
#include <sys/types.h>

#include <cstddef>
#include <ctime>
#include <functional>
#include <string>

#include "lookup/lookup.h"

namespace vmail {

// Sets *failure (when not nullptr) to `code` and `message`.
void set_failure(LookupFailure* failure, Code code, const std::string& message);

// What says whether an immutable connection still shows the file's content.
struct Stamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  timespec mtime{};
  timespec ctime{};
  bool wal = false;  // a -wal file exists: a writer is or was active
  // The file's times lie in an earlier clock tick than the moment it was
  // stat()ed, so any later change gives it a different time.
  bool settled = false;
};

// Same device, inode, size and times.
bool same_file(const Stamp& a, const Stamp& b);

// Stats the database (and with `check_wal` its -wal file) into *out.
// kUnavailable with *failure set when it is missing or not a regular file.
LookupStatus read_stamp(const std::string& path, Stamp* out, LookupFailure* failure, bool check_wal = true);

// A URI for sqlite3_open_v2 with the path percent-encoded ('?', '#' and '%'
// are special in URIs) and `query` appended.
std::string file_uri(const std::string& path, const char* query);

// Maps an SQLite error onto a LookupStatus (busy and out of memory: try again).
LookupStatus sqlite_failure(int rc, const std::string& path, sqlite3* db, LookupFailure* failure);

// One read-only connection and its prepared statements, used by one thread.
class Reader {
 public:
  static constexpr size_t kSlots = 16;

  Reader(sqlite3* db, std::string path, const Stamp& stamp, bool immutable)
      : db_(db), path_(std::move(path)), stamp_(stamp), immutable_(immutable) {}
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Whether this connection still answers for `path` as it is now.
  bool serves(const std::string& path, const Stamp& now) const;
  bool immutable() const { return immutable_; }
  sqlite3* db() const { return db_; }
  const std::string& path() const { return path_; }

  // The statement in `slot` (< kSlots), prepared from `sql` on first use; a
  // caller uses one fixed sql per slot. nullptr with *rc set on failure.
  sqlite3_stmt* stmt(size_t slot, const char* sql, int* rc);
  // Runs `body` in one read transaction, which never stays open afterwards.
  LookupStatus in_transaction(LookupFailure* failure, const std::function<LookupStatus(Reader&)>& body);

 private:
  sqlite3* db_;
  std::string path_;
  Stamp stamp_;
  bool immutable_;
  sqlite3_stmt* stmts_[kSlots] = {};
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
};

// Resets a statement when the read is done: a statement left stepping would
// hold its read transaction (an old snapshot) open.
class Resetter {
 public:
  explicit Resetter(sqlite3_stmt* s) : s_(s) {}
  ~Resetter() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Resetter(const Resetter&) = delete;
  Resetter& operator=(const Resetter&) = delete;

 private:
  sqlite3_stmt* s_;
};

// Runs `body(reader)` in one read transaction against a current view of the
// database at `path`, using (and refreshing) this thread's cached
// connection. An immutable read is retried when the file changed during it;
// kTryAgain (kBusy) when it kept changing. std::bad_alloc may escape.
LookupStatus with_reader(const std::string& path, LookupFailure* failure,
                         const std::function<LookupStatus(Reader&)>& body);

// Closes this thread's cached connection.
void forget_reader() noexcept;

// Whether this thread's cached connection is immutable (for tests); false when there is none.
bool cached_reader_is_immutable() noexcept;

}  // namespace vmail
