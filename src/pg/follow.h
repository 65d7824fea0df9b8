// A node that follows the shared store: `vmail export --follow` (SPEC
// "Beyond one machine"). One loop, until asked to stop: connect (every second
// while the store is down), LISTEN, catch the replica up, export when the
// replica's seq differs from the seq last exported, write the status file,
// wait for a NOTIFY (at most a second).
//
// Seqs are compared rather than notifications counted: a CLI write on this
// node advances the replica itself (and may skip its export with
// --no-export), so only the seq says what was exported.
//
// The status file ($VMAIL_STATE_DIR/follower.json, written atomically every
// loop) is what `vmail health` reads:
//   {"seq": N, "upstream": "ok"|"unreachable", "since": T, "updated": T,
//    "error": "one line"}        ("error" only while there is one)
// Times are UTC, "2026-12-01T06:40:00Z"; `since` is the last change of
// `upstream`.
#pragma once

#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/database.h"
#include "core/settings.h"
#include "core/status.h"

namespace vmail::pg {

struct FollowerStatus {
  int64_t seq = 0;
  bool upstream_ok = false;
  std::time_t since = 0;
  std::time_t updated = 0;
  std::string error;  // "" when none
};

std::string follower_status_path(const Settings& settings);
std::string follower_status_json(const FollowerStatus& status);
// kBadInput naming what is wrong when `text` is not such a status.
Result<FollowerStatus> parse_follower_status(const std::string& text);
// "2026-12-01T06:40:00Z" (format_utc, core/audit.h) back to a time; nullopt
// for anything else.
std::optional<std::time_t> parse_utc_time(const std::string& text);

// The settings of a follower started by the launcher (templates/follower):
// KEY=VALUE lines, blank lines and `#` comments. Keys are the names in
// `allowed`; an unknown or repeated key, or a line without `=`, is kConfig
// naming `path` and the line number. Values are taken verbatim (may be "").
Result<std::map<std::string, std::string>> parse_settings_file(const std::string& path, const std::string& text,
                                                               const std::vector<std::string>& allowed);

// Exports the replica (the caller's exporter, e.g. export_all).
using Exporter = std::function<Status(Database& replica, const Settings& settings)>;

// Runs the loop until `stop()` returns true (checked at least every second;
// a signal that interrupts the wait makes it sooner). `settings.upstream`
// must be set. Returns Ok when stopped; an error only when the replica
// itself cannot be opened (every other failure is logged once, put in the
// status file and retried). The replica is never held in a transaction
// while waiting.
Status follow(Settings settings, const Exporter& exporter, const std::function<bool()>& stop);

}  // namespace vmail::pg
