// The audit log (SPEC "Mail policy"): who changed what, and when.
//
// Every mutating Store method (and each batch import) calls record_change()
// inside its own write transaction, so an entry commits with its change and a
// rolled-back change leaves none. Values are JSON and never hold a password
// or hash: callers record {"password": "changed"} instead.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/database.h"
#include "core/status.h"

namespace vmail {

// Who makes the changes of one run: set once by the program (the CLI from its
// parsed command, the launcher for itself) and handed to the Store.
struct Actor {
  int64_t uid = -1;       // real uid of the process
  std::string sudo_user;  // SUDO_USER from the environment, empty when absent
  std::string command;    // the command words, e.g. "user passwd"; never its arguments

  // The calling process: getuid() and SUDO_USER (control characters replaced
  // by '?', at most 64 bytes: it is only a claim made by the environment).
  static Actor current(std::string command);
};

// What one change was: `action` names it in command words ("user passwd"),
// `object` is what it changed (an address, a domain, an alias source, an
// import file). A null value means none (an add has no old value).
struct Change {
  std::string_view action;
  std::string_view object;
  const nlohmann::json& old_value;
  const nlohmann::json& new_value;
};

// Inserts one entry through `tx`, which must be inside an open write
// transaction (Database::write). Throws SQLite::Exception like any statement
// there; Database::write turns it into a Status and rolls the change back.
void record_change(SQLite::Database& tx, const Actor& actor, const Change& change);

// One entry read back; old_value/new_value are JSON text or empty for none.
struct AuditEntry {
  int64_t id = 0;
  std::string time;  // UTC, YYYY-MM-DDTHH:MM:SSZ
  int64_t uid = -1;
  std::string sudo_user;
  std::string command;
  std::string action;
  std::string object;
  std::string old_value;
  std::string new_value;
};

// Entries at or after `since` (canonical UTC time, see parse_since), newest
// first, at most `limit`. kBusy/kInternal when the database cannot be read.
Result<std::vector<AuditEntry>> read_audit_log(Database& db, const std::optional<std::string>& since, size_t limit);

// `t` as canonical UTC "YYYY-MM-DDTHH:MM:SSZ".
std::string format_utc(std::time_t t);

// Parses a --since value into canonical UTC "YYYY-MM-DDTHH:MM:SSZ":
// an ISO-8601 date or date-time in UTC (`2026-11-30`, `2026-11-30T21:05`,
// `2026-11-30T21:05:09Z`, a space for the T), or a time before `now`:
// N followed by s, m, h, d or w (`90m`, `1h`, `2d`). kBadInput naming
// `field` otherwise.
Result<std::string> parse_since(std::string_view text, std::time_t now, std::string_view field = "--since");

}  // namespace vmail
