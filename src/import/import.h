// Batch import of users and aliases (SPEC "Batch import").
//
// All or nothing: every row is checked with the same functions as the single
// commands (validate.h, password.h), duplicates inside the file and conflicts
// with the database are bad rows, and only a file without a single bad row is
// written, in one BEGIN IMMEDIATE transaction that commits at the very end.
// A process killed at any point therefore leaves the database as it was.
//
// The slow parts run before the write transaction starts, so the write lock
// is held only for the inserts: rows are checked and plaintext passwords
// hashed on `jobs` threads. New users get no maildir (Dovecot makes it at the
// first delivery or login), only their domain's folder; a new user whose
// leftover maildir holds mail is a bad row unless `reuse_maildirs` (the rule
// of `user add`: core/maildir leftover_holds_mail).
// Conflicts are checked once before (to fail early) and again inside the
// transaction (the database may have changed).
//
// Not thread-safe with respect to `db` (one thread at a time, as Database).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/audit.h"
#include "core/database.h"
#include "core/settings.h"
#include "core/status.h"
#include "import/source.h"

namespace vmail {

enum class ImportFormat { kCsv, kDms };
// What to do with a user that already exists: a bad row, left alone, or made
// to match the row (password, and quota/name/enabled when the file has them).
enum class OnExisting { kFail, kSkip, kUpdate };

struct ImportOptions {
  ImportFormat format = ImportFormat::kCsv;
  bool dry_run = false;                        // check everything, write nothing, hash nothing
  OnExisting on_existing = OnExisting::kFail;  // users only
  unsigned jobs = 0;                           // checking and hashing threads; 0 = all cores
  bool reuse_maildirs = false;                 // a new user may inherit mail left in its maildir
  // Called on the calling thread about ten times a second while hashing
  // (`stage` "hashing"), and once at the end with done == total.
  std::function<void(std::string_view stage, size_t done, size_t total)> progress;
  // The import's one audit log entry (audit.h), written in its transaction
  // with the counts: who imports, and the file's name as its object.
  Actor actor;
  std::string source_name = "<stdin>";
  // Test seam: runs inside the write transaction, after every row is written
  // and before the commit.
  std::function<void()> before_commit;
};

struct ImportReport {
  size_t rows = 0;                // rows read (good and bad)
  size_t created = 0;             // users, or alias sources that did not exist
  size_t updated = 0;             // users (--on-existing update), or existing aliases given more destinations
  size_t skipped = 0;             // existing users left alone (--on-existing skip)
  std::vector<LineError> errors;  // every bad row, in line order; non-empty = nothing written
  std::vector<LineError> warnings;
  bool written = false;  // the transaction committed (something changed)
};

// Imports users from `data` (the file's bytes). Bad rows are not a failure of
// the call: they come back in report.errors. A Status is returned for what is
// not the file's fault: the database (busy 75, other errors 70), hashing (70),
// a maildir that cannot be inspected or a domain folder that cannot be made
// (73; nothing is written).
// `settings` gives the scheme, the mail dir and the maildirs' owner.
Result<ImportReport> import_users(Database& db, const Settings& settings, std::string_view data,
                                  const ImportOptions& options);

// Imports aliases: CSV columns `source`, `destination` (comma-separated), or
// dms `postfix-virtual.cf`. A source that is already an alias gets the new
// destinations appended, as `vmail alias add` does; a destination it already
// has is a conflict.
Result<ImportReport> import_aliases(Database& db, std::string_view data, const ImportOptions& options);

}  // namespace vmail
