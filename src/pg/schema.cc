#include "pg/schema.h"

#include <string>

namespace vmail::pg {

Status migrate(Connection& conn) {
  const auto& all = embedded_pg_migrations();
  int latest = all.empty() ? 0 : all.back().version;
  // Every command of a node starts here: when nothing is pending, a read
  // answers it without the lock or any DDL.
  auto exists = conn.query("SELECT to_regclass('vmail_schema') IS NOT NULL");
  if (!exists.ok()) return exists.status();
  if (exists->text(0, 0) == "t") {
    auto current = conn.query("SELECT COALESCE(max(version), 0) FROM vmail_schema");
    if (!current.ok()) return current.status();
    if (current->integer(0, 0) == latest) return Status::Ok();
  }
  if (Status s = conn.exec("BEGIN"); !s.ok()) return s;
  auto body = [&]() -> Status {
    if (auto r = conn.query("SELECT pg_advisory_xact_lock($1)", {std::to_string(kMigrateLock)}); !r.ok()) {
      return r.status();
    }
    if (Status s = conn.exec("CREATE TABLE IF NOT EXISTS vmail_schema (version integer PRIMARY KEY)"); !s.ok())
      return s;
    auto current = conn.query("SELECT COALESCE(max(version), 0) FROM vmail_schema");
    if (!current.ok()) return current.status();
    int version = static_cast<int>(current->integer(0, 0));
    if (version > latest) {
      return Status(Code::kConfig, "PostgreSQL " + conn.name() + ": schema version " + std::to_string(version) +
                                       " is newer than this vmail (" + std::to_string(latest) + ")");
    }
    for (const Migration& m : all) {
      if (m.version <= version) continue;
      if (Status s = conn.exec(m.sql); !s.ok()) {
        return Status(s.code(), "migration " + std::to_string(m.version) + " " + m.name + ": " + s.message());
      }
      if (auto r = conn.query("INSERT INTO vmail_schema (version) VALUES ($1)", {std::to_string(m.version)}); !r.ok()) {
        return r.status();
      }
    }
    return conn.exec("COMMIT");
  };
  Status s = body();
  if (!s.ok() && conn.alive()) (void)conn.exec("ROLLBACK");
  return s;
}

}  // namespace vmail::pg
