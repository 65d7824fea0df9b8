#include "lookup/reader.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace vmail {
namespace {

// Busy waits are short: an NSS caller (login, Dovecot's auth worker) would
// rather retry than hang. Readers in WAL mode are almost never busy.
constexpr int kBusyTimeoutMs = 500;
// Immutable reads retried when a writer changed the file meanwhile.
constexpr int kAttempts = 5;

bool same_time(const timespec& a, const timespec& b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

bool before(const timespec& a, const timespec& b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

// Whether a change made after this moment is sure to show in mtime/ctime.
// The kernel stamps files from the coarse clock (one tick, 1-10 ms), so a
// second write within the tick of the first leaves the times as they were:
// an immutable view opened between the two would then be reused on a file
// that changed in place at the same size. A view is reused only when the
// file's times are older than the current tick (or second, for a file
// system that keeps whole seconds); right after a write each lookup opens
// a fresh view, until the tick has passed.
bool settled(const struct stat& st) {
  timespec now{};
  if (::clock_gettime(CLOCK_REALTIME_COARSE, &now) != 0) return false;
  timespec newest = before(st.st_mtim, st.st_ctim) ? st.st_ctim : st.st_mtim;
  if (st.st_mtim.tv_nsec == 0 && st.st_ctim.tv_nsec == 0) return newest.tv_sec < now.tv_sec;
  return before(newest, now);
}

// Counts fork()s in this process: a child must not use or close its
// parent's connections (SQLite's lock bookkeeping is per process), so a slot
// filled before the last fork is abandoned. Cheaper than getpid(), a system
// call, on every lookup.
std::atomic<unsigned> g_forks{0};

void count_fork() { g_forks.fetch_add(1, std::memory_order_relaxed); }

unsigned fork_generation() {
  // Registered on first use; the handler goes away with the module (dlclose).
  static const bool registered = ::pthread_atfork(nullptr, nullptr, count_fork) == 0;
  // Without the handler, tell every call apart: nothing is ever reused.
  return registered ? g_forks.load(std::memory_order_relaxed) : g_forks.fetch_add(1, std::memory_order_relaxed) + 1;
}

// This thread's cached connection.
struct ReaderSlot {
  Reader* reader = nullptr;
  unsigned generation = 0;
  Reader* get() {
    if (reader != nullptr && generation != fork_generation()) reader = nullptr;
    return reader;
  }
  void set(Reader* r) {
    reset();
    reader = r;
    generation = fork_generation();
  }
  void reset() {
    if (get() != nullptr) delete reader;
    reader = nullptr;
  }
  ~ReaderSlot() { reset(); }
};
thread_local ReaderSlot t_slot;

// Opens a connection for `path` in the state `stamp` describes.
Reader* open_reader(const std::string& path, const Stamp& stamp, LookupStatus* status, LookupFailure* failure) {
  const int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
  bool immutable = !stamp.wal;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(file_uri(path, immutable ? "immutable=1" : "mode=ro").c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK && !immutable) {
    // A WAL without its -shm on a read-only volume cannot be opened
    // ordinarily; the database file alone is the best there is.
    sqlite3_close_v2(db);
    db = nullptr;
    immutable = true;
    rc = sqlite3_open_v2(file_uri(path, "immutable=1").c_str(), &db, flags, nullptr);
  }
  if (rc != SQLITE_OK) {
    *status = sqlite_failure(rc, path, db, failure);
    sqlite3_close_v2(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  return new Reader(db, path, stamp, immutable);
}

}  // namespace

void set_failure(LookupFailure* failure, Code code, const std::string& message) {
  if (failure == nullptr) return;
  failure->code = code;
  failure->message = message;
}

bool same_file(const Stamp& a, const Stamp& b) {
  return a.dev == b.dev && a.ino == b.ino && a.size == b.size && same_time(a.mtime, b.mtime) &&
         same_time(a.ctime, b.ctime);
}

// Stats the database (and with `check_wal` its -wal file) into *out.
LookupStatus read_stamp(const std::string& path, Stamp* out, LookupFailure* failure, bool check_wal) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      set_failure(failure, Code::kNoInput, path + ": no such database (`vmail db migrate` creates it)");
    } else {
      set_failure(failure, Code::kIoError, path + ": " + std::strerror(err));
    }
    return LookupStatus::kUnavailable;
  }
  if (!S_ISREG(st.st_mode)) {
    set_failure(failure, Code::kConfig, path + ": not a regular file");
    return LookupStatus::kUnavailable;
  }
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  out->size = st.st_size;
  out->mtime = st.st_mtim;
  out->ctime = st.st_ctim;
  out->settled = settled(st);
  if (!check_wal) return LookupStatus::kFound;
  struct stat wal;
  // Anything but "no such file" counts as a WAL: the ordinary read-only
  // connection is the safe choice.
  out->wal = !(::stat((path + "-wal").c_str(), &wal) != 0 && errno == ENOENT);
  return LookupStatus::kFound;
}

// A URI for sqlite3_open_v2 with the path percent-encoded ('?', '#' and '%'
// are special in URIs).
std::string file_uri(const std::string& path, const char* query) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out = "file:";
  for (unsigned char c : path) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '.' ||
                 c == '_' || c == '-' || c == '~';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out += '?';
  out += query;
  return out;
}

LookupStatus sqlite_failure(int rc, const std::string& path, sqlite3* db, LookupFailure* failure) {
  int primary = rc & 0xff;
  std::string what = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    set_failure(failure, Code::kBusy, path + ": database busy past its timeout");
    return LookupStatus::kTryAgain;
  }
  if (primary == SQLITE_NOMEM) {
    set_failure(failure, Code::kInternal, path + ": out of memory");
    return LookupStatus::kTryAgain;
  }
  set_failure(failure, Code::kConfig, path + ": cannot read the database: " + what);
  return LookupStatus::kUnavailable;
}

Reader::~Reader() {
  for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
  sqlite3_finalize(begin_);
  sqlite3_finalize(commit_);
  sqlite3_close_v2(db_);
}

bool Reader::serves(const std::string& path, const Stamp& now) const {
  if (path != path_ || now.dev != stamp_.dev || now.ino != stamp_.ino) return false;
  // An ordinary connection follows commits itself; an immutable one only
  // shows the file as it was when opened.
  return immutable_ ? stamp_.settled && now.wal == stamp_.wal && same_file(now, stamp_) : now.wal;
}

sqlite3_stmt* Reader::stmt(size_t slot, const char* sql, int* rc) {
  if (stmts_[slot] == nullptr) {
    *rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmts_[slot], nullptr);
    if (*rc != SQLITE_OK) return nullptr;
  }
  return stmts_[slot];
}

// Runs `body(reader)` in one read transaction: the settings and the rows
// come from one snapshot, and a lookup pays for one transaction, not one per
// statement (each takes a lock in WAL mode, a header read when immutable).
LookupStatus Reader::in_transaction(LookupFailure* failure, const std::function<LookupStatus(Reader&)>& body) {
  int rc = SQLITE_OK;
  if (begin_ == nullptr) rc = sqlite3_prepare_v3(db_, "BEGIN", -1, SQLITE_PREPARE_PERSISTENT, &begin_, nullptr);
  if (begin_ == nullptr) return sqlite_failure(rc, path_, db_, failure);
  rc = sqlite3_step(begin_);
  sqlite3_reset(begin_);
  if (rc != SQLITE_DONE) return sqlite_failure(rc, path_, db_, failure);
  LookupStatus st = body(*this);
  // A read transaction commits without writing; whatever happened, the
  // connection must not keep its snapshot (and its WAL read lock).
  if (commit_ == nullptr) sqlite3_prepare_v3(db_, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &commit_, nullptr);
  if (commit_ != nullptr) {
    sqlite3_step(commit_);
    sqlite3_reset(commit_);
  }
  if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  return st;
}

// Runs `body(reader)` against a current view of the database at `path`
// (see lookup.h for why immutable reads are checked and retried).
LookupStatus with_reader(const std::string& path, LookupFailure* failure,
                         const std::function<LookupStatus(Reader&)>& body) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    Stamp before;
    if (LookupStatus st = read_stamp(path, &before, failure); st != LookupStatus::kFound) return st;
    Reader* reader = t_slot.get();
    if (reader == nullptr || !reader->serves(path, before)) {
      t_slot.reset();
      LookupStatus st = LookupStatus::kUnavailable;
      reader = open_reader(path, before, &st, failure);
      if (reader == nullptr) return st;
      t_slot.set(reader);
    }
    LookupStatus st = reader->in_transaction(failure, body);
    if (!reader->immutable()) return st;
    // Only a change of the file itself can tear an immutable read; a -wal
    // that appeared meanwhile holds commits made after the read began.
    Stamp after;
    if (read_stamp(path, &after, nullptr, /*check_wal=*/false) == LookupStatus::kFound && same_file(before, after)) {
      return st;
    }
    t_slot.reset();  // the file changed under the immutable view: read again
  }
  set_failure(failure, Code::kBusy, path + ": database kept changing during the read");
  return LookupStatus::kTryAgain;
}

void forget_reader() noexcept { t_slot.reset(); }

bool cached_reader_is_immutable() noexcept {
  Reader* r = t_slot.get();
  return r != nullptr && r->immutable();
}

}  // namespace vmail
