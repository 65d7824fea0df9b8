// The PostgreSQL schema: migrations/postgresql/, numbered as migrations/
// (one history: version N means the same logical schema on both backends;
// e2e test_pg_schema compares them).
#pragma once

#include <vector>

#include "core/database.h"
#include "core/status.h"
#include "pg/connection.h"

namespace vmail::pg {

// The PostgreSQL migrations compiled into the program, in order
// (generated from migrations/postgresql/).
const std::vector<Migration>& embedded_pg_migrations();

// Applies the pending migrations in one transaction under an advisory lock
// (two nodes starting at once migrate once). kConfig when the shared store
// is newer than this program.
Status migrate(Connection& conn);

// Advisory lock keys: every writer of the shared store holds kWriteLock
// until it commits, so writes are serialised cluster-wide (no lost update,
// and changes commit in `seq` order).
inline constexpr int64_t kWriteLock = 0x766d61696c0001;
inline constexpr int64_t kMigrateLock = 0x766d61696c0002;

}  // namespace vmail::pg
