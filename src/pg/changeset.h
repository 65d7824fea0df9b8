// A SQLite session changeset turned into PostgreSQL statements.
//
// The writer's replica decides every change (validation, ids, triggers) and
// records it as a changeset; the shared store then receives the same rows.
// Statements come out deletes first, then updates, then inserts, so that a
// row leaving a unique slot (a retired DKIM key, a removed destination)
// frees it before another takes it; foreign keys in the PostgreSQL schema
// are deferred, so the order across tables does not matter.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <string>
#include <vector>

#include "core/status.h"
#include "pg/connection.h"

namespace vmail::pg {

struct Statement {
  enum class Kind { kDelete, kUpdate, kInsert };
  Kind kind;
  std::string table;
  int rank = 0;     // the table's place in shared_tables()
  std::string sql;  // with $1… placeholders
  std::vector<Param> params;
};

// The statements for `changeset`; column names come from the replica's
// schema (`db`). kInternal for a changeset SQLite cannot read.
Result<std::vector<Statement>> statements_for(SQLite::Database& db, const std::string& changeset);

// Runs them in order on `conn` (inside the caller's transaction). An update
// that finds no row means the shared store and this replica disagree: kBusy,
// so the writer catches up and the user can retry. A delete that finds none
// is fine (a cascade got there first).
Status apply_statements(Connection& conn, const std::vector<Statement>& statements);

}  // namespace vmail::pg
