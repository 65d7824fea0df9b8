#include "core/policy_state.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "core/database.h"
#include "core/files.h"

namespace vmail {
namespace {

constexpr int kBusyTimeoutMs = 10000;
constexpr int64_t kHour = 3600;

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS bans (
  address TEXT PRIMARY KEY,
  since INTEGER NOT NULL,
  until INTEGER NOT NULL,
  reason TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS login_failures (
  address TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_address ON login_failures (address, at);
CREATE TABLE IF NOT EXISTS recipients (
  login TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS recipients_login ON recipients (login, at);
)";

Result<std::unique_ptr<SQLite::Database>> open_file(const std::string& path, bool create) {
  try {
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX;
    auto db = std::make_unique<SQLite::Database>(path, flags, kBusyTimeoutMs);
    std::string journal = db->execAndGet("PRAGMA journal_mode = WAL").getString();
    if (Status s = check_journal_mode(path, journal); !s.ok()) return s;
    // Counters, not accounts: a commit lost to a power cut costs one count.
    db->exec("PRAGMA synchronous = NORMAL");
    if (create) db->exec(kSchema);
    return db;
  } catch (const std::exception& e) {
    return sqlite_status(e, path);
  }
}

Ban ban_of(SQLite::Statement& q) {
  return Ban{q.getColumn(0).getString(), q.getColumn(1).getInt64(), q.getColumn(2).getInt64(),
             q.getColumn(3).getString()};
}

}  // namespace

Result<std::unique_ptr<PolicyState>> PolicyState::open(const std::string& state_dir) {
  auto dir = Dir::open_or_make(state_dir, 0755);
  if (!dir.ok()) return dir.status();
  const std::string path = state_dir + "/" + kFileName;
  // Made 0600 through the folder's descriptor before SQLite opens it, never
  // through a symlink put in its place.
  int fd = ::openat(dir->fd(), kFileName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
  } else if (errno != EEXIST) {
    return Status(Code::kCantCreate, path + ": cannot create: " + std::strerror(errno));
  }
  auto db = open_file(path, true);
  if (!db.ok()) return db.status();
  return std::unique_ptr<PolicyState>(new PolicyState(std::move(*db), path));
}

Result<std::unique_ptr<PolicyState>> PolicyState::open_existing(const std::string& state_dir) {
  auto dir = Dir::open(state_dir);
  if (!dir.ok() || !dir->has(kFileName)) return std::unique_ptr<PolicyState>();
  const std::string path = state_dir + "/" + kFileName;
  auto db = open_file(path, true);
  if (!db.ok()) return db.status();
  return std::unique_ptr<PolicyState>(new PolicyState(std::move(*db), path));
}

Status PolicyState::write(const std::string& what, const std::function<Status()>& body) {
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    Status s = body();
    if (!s.ok()) return s;
    tx.commit();
    return Status::Ok();
  } catch (const std::exception& e) {
    return sqlite_status(e, path_ + ": " + what);
  }
}

Result<std::optional<Ban>> PolicyState::active_ban(const std::string& address, int64_t now) {
  try {
    SQLite::Statement q(*db_, "SELECT address, since, until, reason FROM bans WHERE address = ? AND until > ?");
    q.bind(1, address);
    q.bind(2, now);
    if (q.executeStep()) return std::optional<Ban>(ban_of(q));
    return std::optional<Ban>();
  } catch (const std::exception& e) {
    return sqlite_status(e, path_);
  }
}

Result<std::optional<Ban>> PolicyState::record_failure(const std::string& address, int64_t now, const BanRules& rules) {
  std::optional<Ban> banned;
  Status s = write("failed login", [&] {
    SQLite::Statement add(*db_, "INSERT INTO login_failures (address, at) VALUES (?, ?)");
    add.bind(1, address);
    add.bind(2, now);
    add.exec();
    SQLite::Statement count(*db_, "SELECT count(*) FROM login_failures WHERE address = ? AND at > ?");
    count.bind(1, address);
    count.bind(2, now - rules.window);
    count.executeStep();
    if (count.getColumn(0).getInt64() < rules.failures) return Status::Ok();
    SQLite::Statement ban(*db_,
                          "INSERT OR REPLACE INTO bans (address, since, until, reason) VALUES (?, ?, ?, "
                          "'failed logins')");
    ban.bind(1, address);
    ban.bind(2, now);
    ban.bind(3, now + rules.ban_time);
    ban.exec();
    SQLite::Statement forget(*db_, "DELETE FROM login_failures WHERE address = ?");
    forget.bind(1, address);
    forget.exec();
    banned = Ban{address, now, now + rules.ban_time, "failed logins"};
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return banned;
}

Status PolicyState::add_ban(const std::string& address, int64_t now, int64_t until, const std::string& reason) {
  return write("ban", [&] {
    SQLite::Statement q(*db_, "INSERT OR REPLACE INTO bans (address, since, until, reason) VALUES (?, ?, ?, ?)");
    q.bind(1, address);
    q.bind(2, now);
    q.bind(3, until);
    q.bind(4, reason);
    q.exec();
    return Status::Ok();
  });
}

Result<bool> PolicyState::remove_ban(const std::string& address, int64_t now) {
  bool had = false;
  Status s = write("lift ban", [&] {
    SQLite::Statement q(*db_, "DELETE FROM bans WHERE address = ? AND until > ?");
    q.bind(1, address);
    q.bind(2, now);
    had = q.exec() > 0;
    SQLite::Statement old(*db_, "DELETE FROM bans WHERE address = ?");
    old.bind(1, address);
    old.exec();
    SQLite::Statement forget(*db_, "DELETE FROM login_failures WHERE address = ?");
    forget.bind(1, address);
    forget.exec();
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return had;
}

Result<std::vector<Ban>> PolicyState::list_bans(int64_t now) {
  try {
    std::vector<Ban> out;
    SQLite::Statement q(*db_, "SELECT address, since, until, reason FROM bans WHERE until > ? ORDER BY address");
    q.bind(1, now);
    while (q.executeStep()) out.push_back(ban_of(q));
    return out;
  } catch (const std::exception& e) {
    return sqlite_status(e, path_);
  }
}

Result<bool> PolicyState::take_recipient(const std::string& login, int64_t now, int64_t limit) {
  bool taken = false;
  Status s = write("count recipient", [&] {
    SQLite::Statement count(*db_, "SELECT count(*) FROM recipients WHERE login = ? AND at > ?");
    count.bind(1, login);
    count.bind(2, now - kHour);
    count.executeStep();
    if (count.getColumn(0).getInt64() >= limit) return Status::Ok();
    SQLite::Statement add(*db_, "INSERT INTO recipients (login, at) VALUES (?, ?)");
    add.bind(1, login);
    add.bind(2, now);
    add.exec();
    taken = true;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return taken;
}

Result<int64_t> PolicyState::recipients_last_hour(const std::string& login, int64_t now) {
  try {
    SQLite::Statement q(*db_, "SELECT count(*) FROM recipients WHERE login = ? AND at > ?");
    q.bind(1, login);
    q.bind(2, now - kHour);
    q.executeStep();
    return q.getColumn(0).getInt64();
  } catch (const std::exception& e) {
    return sqlite_status(e, path_);
  }
}

Status PolicyState::prune(int64_t now, int64_t window) {
  return write("prune", [&] {
    SQLite::Statement failures(*db_, "DELETE FROM login_failures WHERE at <= ?");
    failures.bind(1, now - window);
    failures.exec();
    SQLite::Statement bans(*db_, "DELETE FROM bans WHERE until <= ?");
    bans.bind(1, now);
    bans.exec();
    SQLite::Statement recipients(*db_, "DELETE FROM recipients WHERE at <= ?");
    recipients.bind(1, now - kHour);
    recipients.exec();
    return Status::Ok();
  });
}

}  // namespace vmail
