// `vmail db migrate-to`: moves a single node's SQLite store into an empty
// shared PostgreSQL store (SPEC "Beyond one machine").
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/database.h"
#include "core/dkim.h"
#include "core/status.h"
#include "pg/connection.h"

namespace vmail::pg {

struct MigrateToReport {
  std::vector<std::pair<std::string, int64_t>> copied;  // shared table -> rows, parents first
  std::string cluster;                                  // the store's new cluster id
};

// Copies every shared table of `source` (a migrated SQLite store) into the
// shared store behind `target` (already migrated with pg::migrate), all in
// one PostgreSQL transaction holding kWriteLock, from one SQLite read
// snapshot; gives the store a new cluster id (every follower then copies it
// whole) and compares both sides row for row before it commits.
// Errors (nothing is changed on either side):
//   kBadInput (65) the target already holds a row in a shared table, or a
//                  copied row differs (the line names the table and key);
//   kBusy (75)     the connection was lost; others as Connection::query.
// With `dkim_files`, the private key files of the source's DKIM keys are
// copied into vmail_dkim_private in the same transaction.
Result<MigrateToReport> migrate_to(Database& source, Connection& target, const DkimKeyFiles* dkim_files = nullptr);

}  // namespace vmail::pg
