// The node-local state of the abuse controls (issue 25): login bans, recent
// failed logins per client address, and recent recipients per login, in
// their own SQLite file ($VMAIL_STATE_DIR/policy.db, mode 0600). It is
// node-local on purpose: a shared store (PostgreSQL) replicates accounts,
// not the counters of one server's clients. vmail-policyd writes it for
// every login and RCPT; `vmail ban` reads and changes the bans. Both use WAL
// and a busy timeout, so a `ban del` is seen by the next request.
//
// Times are whole seconds since the epoch, passed in (a test's clock).
// Addresses are canonical text (IpAddress::text). One thread at a time per
// object; several processes may share the file.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace vmail {

struct Ban {
  std::string address;
  int64_t since = 0;
  int64_t until = 0;
  std::string reason;  // "failed logins" or "manual"
};

// What turns failures into a ban (VMAIL_BAN_FAILURES, _WINDOW, _TIME).
struct BanRules {
  int failures = 10;
  int64_t window = 600;
  int64_t ban_time = 3600;
};

class PolicyState {
 public:
  // The file name below VMAIL_STATE_DIR.
  static constexpr const char* kFileName = "policy.db";

  // Opens (creating it and its tables when missing, mode 0600, never through
  // a symlink) `state_dir`/policy.db. kCantCreate naming the file.
  static Result<std::unique_ptr<PolicyState>> open(const std::string& state_dir);
  // Opens an existing file without creating or writing anything: nullptr
  // when there is none yet (nothing banned).
  static Result<std::unique_ptr<PolicyState>> open_existing(const std::string& state_dir);

  // The ban on `address` in force at `now`, if any.
  Result<std::optional<Ban>> active_ban(const std::string& address, int64_t now);
  // Records a failed login from `address`. When this makes `rules.failures`
  // within `rules.window`, bans it until now + ban_time, forgets its
  // failures and returns the ban.
  Result<std::optional<Ban>> record_failure(const std::string& address, int64_t now, const BanRules& rules);
  // Bans `address` until `until` (replacing a ban already there).
  Status add_ban(const std::string& address, int64_t now, int64_t until, const std::string& reason);
  // Lifts the ban on `address` and forgets its failures; false when it had
  // no ban in force.
  Result<bool> remove_ban(const std::string& address, int64_t now);
  // The bans in force at `now`, by address.
  Result<std::vector<Ban>> list_bans(int64_t now);

  // One recipient for `login` at `now` if fewer than `limit` were counted in
  // the hour before: true (counted), false (over the limit, not counted).
  Result<bool> take_recipient(const std::string& login, int64_t now, int64_t limit);
  // Recipients counted for `login` in the hour before `now`.
  Result<int64_t> recipients_last_hour(const std::string& login, int64_t now);

  // Drops failures, bans and recipients too old to matter at `now`.
  Status prune(int64_t now, int64_t window);

 private:
  PolicyState(std::unique_ptr<SQLite::Database> db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}
  Status write(const std::string& what, const std::function<Status()>& body);
  std::unique_ptr<SQLite::Database> db_;
  std::string path_;
};

}  // namespace vmail
