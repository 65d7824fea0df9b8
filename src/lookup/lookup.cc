#include "lookup/lookup.h"

#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <new>

namespace vmail {
namespace {

// Busy waits are short: an NSS caller (login, Dovecot's auth worker) would
// rather retry than hang. Readers in WAL mode are almost never busy.
constexpr int kBusyTimeoutMs = 500;
// Immutable reads retried when a writer changed the file meanwhile.
constexpr int kAttempts = 5;

void fail(LookupFailure* failure, Code code, const std::string& message) {
  if (failure == nullptr) return;
  failure->code = code;
  failure->message = message;
}

// ---- Untrusted rows ------------------------------------------------------

// A stored local part as validate.cc accepts it: a-z 0-9 . _ -, 1-64
// characters, no leading, trailing or doubled dot. It becomes a path
// component, so this is what keeps `..` and `/` out of the home folder.
bool safe_local(std::string_view s) {
  if (s.empty() || s.size() > 64 || s.front() == '.' || s.back() == '.') return false;
  if (s.find("..") != std::string_view::npos) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) return false;
  }
  return true;
}

// A stored domain: lowercase LDH labels of 1-63 characters, at least two.
bool safe_domain(std::string_view s) {
  if (s.size() < 3 || s.size() > 253) return false;
  size_t labels = 0;
  size_t start = 0;
  while (true) {
    size_t end = s.find('.', start);
    std::string_view label = s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    ++labels;
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return labels >= 2;
}

// A free-text field of a passwd or aliases line: no separator, no control
// character (a newline would forge a second line).
bool safe_field(std::string_view s, std::string_view separators) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || separators.find(static_cast<char>(c)) != std::string_view::npos) return false;
  }
  return true;
}

// An alias destination: one address-like token.
bool safe_member(std::string_view s) { return !s.empty() && s.size() <= 64 + 1 + 253 && safe_field(s, ":, #\t"); }

// The folder every home is built under: absolute, no `.` or `..` component,
// nothing that would break the line.
bool safe_mail_dir(std::string_view s) {
  if (s.empty() || s.front() != '/' || !safe_field(s, ":")) return false;
  size_t start = 1;
  while (start <= s.size()) {
    size_t end = s.find('/', start);
    std::string_view part = s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (part == "." || part == "..") return false;
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return true;
}

// Lowercases an ASCII key; false when it cannot be a stored key (so the
// lookup simply finds nothing without touching the database).
bool normalize_key(std::string_view key, bool allow_catch_all, std::string* out) {
  if (key.empty() || key.size() > 64 + 1 + 253) return false;
  size_t at = key.find('@');
  if (at == std::string_view::npos || key.find('@', at + 1) != std::string_view::npos) return false;
  if (at == 0 && !allow_catch_all) return false;
  out->assign(key);
  for (char& c : *out) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return true;
}

// ---- Connections -----------------------------------------------------------

// What says whether an immutable connection still shows the file's content.
struct Stamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  timespec mtime{};
  timespec ctime{};
  bool wal = false;  // a -wal file exists: a writer is or was active
  // The file's times lie in an earlier clock tick than the moment it was
  // stat()ed, so any later change gives it a different time (see settled()).
  bool settled = false;
};

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

bool same_file(const Stamp& a, const Stamp& b) {
  return a.dev == b.dev && a.ino == b.ino && a.size == b.size && same_time(a.mtime, b.mtime) &&
         same_time(a.ctime, b.ctime);
}

// Stats the database (and with `check_wal` its -wal file) into *out.
LookupStatus read_stamp(const std::string& path, Stamp* out, LookupFailure* failure, bool check_wal = true) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      fail(failure, Code::kNoInput, path + ": no such database (`vmail db migrate` creates it)");
    } else {
      fail(failure, Code::kIoError, path + ": " + std::strerror(err));
    }
    return LookupStatus::kUnavailable;
  }
  if (!S_ISREG(st.st_mode)) {
    fail(failure, Code::kConfig, path + ": not a regular file");
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

enum Query {
  kBegin,
  kCommit,
  kSettings,
  kUserByAddress,
  kAllUsers,
  kAliasBySource,
  kAllAliases,
  kDestinations,
  kQueryCount
};

constexpr const char* kSql[kQueryCount] = {
    "BEGIN",
    "COMMIT",
    "SELECT name, value FROM settings",
    "SELECT u.address, u.local, d.name, u.name FROM users u JOIN domains d ON d.id = u.domain_id "
    "WHERE u.address = ?1",
    "SELECT u.address, u.local, d.name, u.name FROM users u JOIN domains d ON d.id = u.domain_id "
    "ORDER BY u.address",
    "SELECT a.id, a.source, d.name FROM aliases a JOIN domains d ON d.id = a.domain_id WHERE a.source = ?1",
    "SELECT a.id, a.source, d.name FROM aliases a JOIN domains d ON d.id = a.domain_id ORDER BY a.source",
    "SELECT destination FROM alias_destinations WHERE alias_id = ?1 ORDER BY position, destination",
};

// One read-only connection and its prepared statements, used by one thread.
class Reader {
 public:
  Reader(sqlite3* db, std::string path, const Stamp& stamp, bool immutable)
      : db_(db), path_(std::move(path)), stamp_(stamp), immutable_(immutable) {}
  ~Reader() {
    for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
    sqlite3_close_v2(db_);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Whether this connection still answers for `path` as it is now.
  bool serves(const std::string& path, const Stamp& now) const {
    if (path != path_ || now.dev != stamp_.dev || now.ino != stamp_.ino) return false;
    // An ordinary connection follows commits itself; an immutable one only
    // shows the file as it was when opened.
    return immutable_ ? stamp_.settled && now.wal == stamp_.wal && same_file(now, stamp_) : now.wal;
  }
  bool immutable() const { return immutable_; }
  sqlite3* db() const { return db_; }
  const std::string& path() const { return path_; }

  // The prepared statement for `q` (prepared on first use), or nullptr with rc set.
  sqlite3_stmt* stmt(Query q, int* rc) {
    if (stmts_[q] == nullptr) {
      *rc = sqlite3_prepare_v3(db_, kSql[q], -1, SQLITE_PREPARE_PERSISTENT, &stmts_[q], nullptr);
      if (*rc != SQLITE_OK) return nullptr;
    }
    return stmts_[q];
  }

 private:
  sqlite3* db_;
  std::string path_;
  Stamp stamp_;
  bool immutable_;
  sqlite3_stmt* stmts_[kQueryCount] = {};
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

LookupStatus sqlite_failure(int rc, const std::string& path, sqlite3* db, LookupFailure* failure) {
  int primary = rc & 0xff;
  std::string what = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    fail(failure, Code::kBusy, path + ": database busy past its timeout");
    return LookupStatus::kTryAgain;
  }
  if (primary == SQLITE_NOMEM) {
    fail(failure, Code::kInternal, path + ": out of memory");
    return LookupStatus::kTryAgain;
  }
  fail(failure, Code::kConfig, path + ": cannot read the database: " + what);
  return LookupStatus::kUnavailable;
}

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

// Runs `body(reader)` in one read transaction: the settings and the rows
// come from one snapshot, and a lookup pays for one transaction, not one per
// statement (each takes a lock in WAL mode, a header read when immutable).
template <class Body>
LookupStatus in_transaction(Reader& r, LookupFailure* failure, Body& body) {
  int rc = SQLITE_OK;
  sqlite3_stmt* begin = r.stmt(kBegin, &rc);
  if (begin == nullptr) return sqlite_failure(rc, r.path(), r.db(), failure);
  rc = sqlite3_step(begin);
  sqlite3_reset(begin);
  if (rc != SQLITE_DONE) return sqlite_failure(rc, r.path(), r.db(), failure);
  LookupStatus st = body(r);
  // A read transaction commits without writing; whatever happened, the
  // connection must not keep its snapshot (and its WAL read lock).
  sqlite3_stmt* commit = r.stmt(kCommit, &rc);
  if (commit != nullptr) {
    sqlite3_step(commit);
    sqlite3_reset(commit);
  }
  if (!sqlite3_get_autocommit(r.db())) sqlite3_exec(r.db(), "ROLLBACK", nullptr, nullptr, nullptr);
  return st;
}

// Runs `body(reader)` against a current view of the database at `path`
// (see lookup.h for why immutable reads are checked and retried).
template <class Body>
LookupStatus with_reader(const std::string& path, LookupFailure* failure, Body&& body) {
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
    LookupStatus st = in_transaction(*reader, failure, body);
    if (!reader->immutable()) return st;
    // Only a change of the file itself can tear an immutable read; a -wal
    // that appeared meanwhile holds commits made after the read began.
    Stamp after;
    if (read_stamp(path, &after, nullptr, /*check_wal=*/false) == LookupStatus::kFound && same_file(before, after)) {
      return st;
    }
    t_slot.reset();  // the file changed under the immutable view: read again
  }
  fail(failure, Code::kBusy, path + ": database kept changing during the read");
  return LookupStatus::kTryAgain;
}

// A text column as a string_view; false for NULL or an embedded NUL.
bool column_text(sqlite3_stmt* s, int i, std::string_view* out) {
  const unsigned char* text = sqlite3_column_text(s, i);
  if (text == nullptr) return false;
  int n = sqlite3_column_bytes(s, i);
  *out = std::string_view(reinterpret_cast<const char*>(text), static_cast<size_t>(n));
  return out->find('\0') == std::string_view::npos;
}

// The settings a lookup uses: explicit ones, else recorded, else defaults.
struct Resolved {
  std::string mail_dir;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

LookupStatus resolve(Reader& r, const Settings& settings, Resolved* out, LookupFailure* failure) {
  int rc = SQLITE_OK;
  sqlite3_stmt* s = r.stmt(kSettings, &rc);
  if (s == nullptr) return sqlite_failure(rc, r.path(), r.db(), failure);
  Resetter reset(s);
  std::map<std::string, std::string> recorded;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    std::string_view name, value;
    if (!column_text(s, 0, &name) || !column_text(s, 1, &value)) continue;
    recorded.emplace(name, value);
  }
  if (rc != SQLITE_DONE) return sqlite_failure(rc, r.path(), r.db(), failure);
  Settings applied = settings;
  if (Status st = apply_recorded(applied, recorded); !st.ok()) {
    fail(failure, st.code(), st.message());
    return LookupStatus::kUnavailable;
  }
  if (!safe_mail_dir(applied.mail_dir)) {
    fail(failure, Code::kConfig, "VMAIL_MAIL_DIR " + quote(applied.mail_dir) + ": not usable as a home folder base");
    return LookupStatus::kUnavailable;
  }
  out->mail_dir = std::move(applied.mail_dir);
  out->uid = applied.uid;
  out->gid = applied.gid;
  return LookupStatus::kFound;
}

// Builds the entry for the current row of a users query; false for an unsafe row.
bool read_user(sqlite3_stmt* s, const Resolved& resolved, PasswdEntry* out) {
  std::string_view address, local, domain, name;
  if (!column_text(s, 0, &address) || !column_text(s, 1, &local) || !column_text(s, 2, &domain) ||
      !column_text(s, 3, &name)) {
    return false;
  }
  if (!safe_local(local) || !safe_domain(domain) || address.size() != local.size() + 1 + domain.size() ||
      address.substr(0, local.size()) != local || address[local.size()] != '@' ||
      address.substr(local.size() + 1) != domain) {
    return false;
  }
  if (name.size() > 1024 || !safe_field(name, ":")) return false;
  out->name.assign(address);
  out->gecos.assign(name);
  out->dir = resolved.mail_dir;
  out->dir += '/';
  out->dir += domain;
  out->dir += '/';
  out->dir += local;
  out->uid = resolved.uid;
  out->gid = resolved.gid;
  return true;
}

// Builds the entry for the current row of an aliases query (and reads its
// destinations); false for an unsafe row, rc set on a database error.
bool read_alias(Reader& r, sqlite3_stmt* s, AliasEntry* out, int* rc) {
  *rc = SQLITE_OK;
  std::string_view source, domain;
  if (!column_text(s, 1, &source) || !column_text(s, 2, &domain) || !safe_domain(domain)) return false;
  size_t at = source.find('@');
  if (at == std::string_view::npos || source.substr(at + 1) != domain) return false;
  if (at != 0 && !safe_local(source.substr(0, at))) return false;
  sqlite3_int64 id = sqlite3_column_int64(s, 0);

  sqlite3_stmt* d = r.stmt(kDestinations, rc);
  if (d == nullptr) return false;
  Resetter reset(d);
  sqlite3_bind_int64(d, 1, id);
  out->name.assign(source);
  out->members.clear();
  bool safe = true;
  while ((*rc = sqlite3_step(d)) == SQLITE_ROW) {
    std::string_view member;
    if (!column_text(d, 0, &member) || !safe_member(member)) safe = false;
    if (safe) out->members.emplace_back(member);
  }
  if (*rc != SQLITE_DONE) return false;
  *rc = SQLITE_OK;
  // One bad destination drops the alias: delivering to only some of them
  // would quietly change where mail goes.
  return safe && !out->members.empty();
}

// Copies `text` with its NUL into the buffer at *pos; false when it does not fit.
bool put_string(std::string_view text, char* buffer, size_t buflen, size_t* pos, char** out) {
  if (buflen - *pos < text.size() + 1) return false;
  *out = buffer + *pos;
  std::memcpy(*out, text.data(), text.size());
  (*out)[text.size()] = '\0';
  *pos += text.size() + 1;
  return true;
}

EnvReader secure_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = ::secure_getenv(name.c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

}  // namespace

LookupStatus nss_settings(Settings* out, LookupFailure* failure) noexcept {
  try {
    auto s = load_settings({}, secure_env());
    if (!s.ok()) {
      fail(failure, s.status().code(), s.status().message());
      return LookupStatus::kUnavailable;
    }
    *out = std::move(*s);
    return LookupStatus::kFound;
  } catch (const std::bad_alloc&) {
    return LookupStatus::kTryAgain;
  } catch (...) {
    return LookupStatus::kUnavailable;
  }
}

LookupStatus lookup_passwd(const Settings& settings, std::string_view key, PasswdEntry* out,
                           LookupFailure* failure) noexcept {
  try {
    std::string address;
    if (!normalize_key(key, false, &address)) return LookupStatus::kNotFound;
    return with_reader(settings.db, failure, [&](Reader& r) {
      Resolved resolved;
      if (LookupStatus st = resolve(r, settings, &resolved, failure); st != LookupStatus::kFound) return st;
      int rc = SQLITE_OK;
      sqlite3_stmt* s = r.stmt(kUserByAddress, &rc);
      if (s == nullptr) return sqlite_failure(rc, r.path(), r.db(), failure);
      Resetter reset(s);
      sqlite3_bind_text(s, 1, address.data(), static_cast<int>(address.size()), SQLITE_STATIC);
      rc = sqlite3_step(s);
      if (rc == SQLITE_ROW) return read_user(s, resolved, out) ? LookupStatus::kFound : LookupStatus::kNotFound;
      if (rc == SQLITE_DONE) return LookupStatus::kNotFound;
      return sqlite_failure(rc, r.path(), r.db(), failure);
    });
  } catch (const std::bad_alloc&) {
    fail(failure, Code::kInternal, "out of memory");
    return LookupStatus::kTryAgain;
  } catch (...) {
    return LookupStatus::kUnavailable;
  }
}

LookupStatus list_passwd(const Settings& settings, std::vector<PasswdEntry>* out, LookupFailure* failure) noexcept {
  try {
    return with_reader(settings.db, failure, [&](Reader& r) {
      out->clear();
      Resolved resolved;
      if (LookupStatus st = resolve(r, settings, &resolved, failure); st != LookupStatus::kFound) return st;
      int rc = SQLITE_OK;
      sqlite3_stmt* s = r.stmt(kAllUsers, &rc);
      if (s == nullptr) return sqlite_failure(rc, r.path(), r.db(), failure);
      Resetter reset(s);
      PasswdEntry entry;
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (read_user(s, resolved, &entry)) out->push_back(entry);
      }
      if (rc != SQLITE_DONE) return sqlite_failure(rc, r.path(), r.db(), failure);
      return LookupStatus::kFound;
    });
  } catch (const std::bad_alloc&) {
    fail(failure, Code::kInternal, "out of memory");
    return LookupStatus::kTryAgain;
  } catch (...) {
    return LookupStatus::kUnavailable;
  }
}

LookupStatus lookup_alias(const Settings& settings, std::string_view key, AliasEntry* out,
                          LookupFailure* failure) noexcept {
  try {
    std::string source;
    if (!normalize_key(key, true, &source)) return LookupStatus::kNotFound;
    return with_reader(settings.db, failure, [&](Reader& r) {
      int rc = SQLITE_OK;
      sqlite3_stmt* s = r.stmt(kAliasBySource, &rc);
      if (s == nullptr) return sqlite_failure(rc, r.path(), r.db(), failure);
      Resetter reset(s);
      sqlite3_bind_text(s, 1, source.data(), static_cast<int>(source.size()), SQLITE_STATIC);
      rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) return LookupStatus::kNotFound;
      if (rc != SQLITE_ROW) return sqlite_failure(rc, r.path(), r.db(), failure);
      if (read_alias(r, s, out, &rc)) return LookupStatus::kFound;
      return rc == SQLITE_OK ? LookupStatus::kNotFound : sqlite_failure(rc, r.path(), r.db(), failure);
    });
  } catch (const std::bad_alloc&) {
    fail(failure, Code::kInternal, "out of memory");
    return LookupStatus::kTryAgain;
  } catch (...) {
    return LookupStatus::kUnavailable;
  }
}

LookupStatus list_aliases(const Settings& settings, std::vector<AliasEntry>* out, LookupFailure* failure) noexcept {
  try {
    return with_reader(settings.db, failure, [&](Reader& r) {
      out->clear();
      int rc = SQLITE_OK;
      sqlite3_stmt* s = r.stmt(kAllAliases, &rc);
      if (s == nullptr) return sqlite_failure(rc, r.path(), r.db(), failure);
      Resetter reset(s);
      // The destinations are read while this statement holds its read
      // transaction open: one snapshot for the whole list.
      AliasEntry entry;
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int drc = SQLITE_OK;
        if (read_alias(r, s, &entry, &drc)) out->push_back(entry);
        if (drc != SQLITE_OK) return sqlite_failure(drc, r.path(), r.db(), failure);
      }
      if (rc != SQLITE_DONE) return sqlite_failure(rc, r.path(), r.db(), failure);
      return LookupStatus::kFound;
    });
  } catch (const std::bad_alloc&) {
    fail(failure, Code::kInternal, "out of memory");
    return LookupStatus::kTryAgain;
  } catch (...) {
    return LookupStatus::kUnavailable;
  }
}

LookupStatus fill_passwd(const PasswdEntry& e, struct passwd* result, char* buffer, size_t buflen) noexcept {
  size_t pos = 0;
  char* shell = nullptr;
  char* passwd = nullptr;
  if (buffer == nullptr || !put_string(e.name, buffer, buflen, &pos, &result->pw_name) ||
      !put_string("x", buffer, buflen, &pos, &passwd) ||
      !put_string(e.gecos, buffer, buflen, &pos, &result->pw_gecos) ||
      !put_string(e.dir, buffer, buflen, &pos, &result->pw_dir) ||
      !put_string(kNssShell, buffer, buflen, &pos, &shell)) {
    return LookupStatus::kBufferTooSmall;
  }
  result->pw_passwd = passwd;
  result->pw_shell = shell;
  result->pw_uid = e.uid;
  result->pw_gid = e.gid;
  return LookupStatus::kFound;
}

LookupStatus fill_alias(const AliasEntry& e, struct aliasent* result, char* buffer, size_t buflen) noexcept {
  if (buffer == nullptr) return LookupStatus::kBufferTooSmall;
  // The member pointer array comes first, aligned for char*.
  size_t pad = (alignof(char*) - reinterpret_cast<uintptr_t>(buffer) % alignof(char*)) % alignof(char*);
  size_t array = pad + e.members.size() * sizeof(char*);
  if (buflen < array) return LookupStatus::kBufferTooSmall;
  char** members = reinterpret_cast<char**>(buffer + pad);
  size_t pos = array;
  if (!put_string(e.name, buffer, buflen, &pos, &result->alias_name)) return LookupStatus::kBufferTooSmall;
  for (size_t i = 0; i < e.members.size(); ++i) {
    if (!put_string(e.members[i], buffer, buflen, &pos, &members[i])) return LookupStatus::kBufferTooSmall;
  }
  result->alias_members = members;
  result->alias_members_len = e.members.size();
  result->alias_local = 0;
  return LookupStatus::kFound;
}

std::string passwd_line(const PasswdEntry& e) {
  std::string line = e.name + ":x:";
  // putpwent(3) keeps the old NIS netgroup form for '+' and '-' names.
  if (e.name.empty() || (e.name[0] != '+' && e.name[0] != '-')) {
    line += std::to_string(e.uid) + ":" + std::to_string(e.gid);
  } else {
    line += ":";
  }
  line += ":" + e.gecos + ":" + e.dir + ":" + kNssShell + "\n";
  return line;
}

std::string alias_line(const AliasEntry& e) {
  std::string line = e.name + ": ";
  if (e.name.size() < 14) line.append(14 - e.name.size(), ' ');
  for (size_t i = 0; i < e.members.size(); ++i) {
    line += e.members[i];
    line += i + 1 == e.members.size() ? "\n" : ", ";
  }
  return line;
}

void lookup_forget_connection() noexcept { t_slot.reset(); }

}  // namespace vmail
