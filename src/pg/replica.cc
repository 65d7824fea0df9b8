#include "pg/replica.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "pg/changeset.h"
#include "pg/dkim_share.h"
#include "pg/schema.h"

namespace vmail::pg {
namespace {

std::optional<std::string> local_value(Database& replica, const std::string& name) {
  SQLite::Statement q(replica.sql(), "SELECT value FROM replication WHERE name = ?");
  q.bind(1, name);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getString();
}

void set_local(Database& replica, const std::string& name, const std::string& value) {
  SQLite::Statement q(replica.sql(),
                      "INSERT INTO replication (name, value) VALUES (?, ?) "
                      "ON CONFLICT (name) DO UPDATE SET value = excluded.value");
  q.bind(1, name);
  q.bind(2, value);
  q.exec();
}

int64_t big_endian_int64(const std::string& bytes) {
  uint64_t v = 0;
  for (unsigned char c : bytes) v = (v << 8) | c;
  return static_cast<int64_t>(v);
}

// Replaces every shared row of the replica with the shared store's.
Result<CatchUp> full_resync(Connection& conn, Database& replica, const std::string& cluster, int64_t seq) {
  SQLite::Database& db = replica.sql();
  db.exec("PRAGMA defer_foreign_keys = ON");
  const auto& tables = shared_tables();
  for (auto it = tables.rbegin(); it != tables.rend(); ++it) db.exec("DELETE FROM \"" + *it + "\"");
  for (const std::string& table : tables) {
    auto rows = conn.query("SELECT * FROM \"" + table + "\"");
    if (!rows.ok()) return rows.status();
    if (rows->size() == 0) continue;
    std::string names, places;
    for (int c = 0; c < rows->columns(); ++c) {
      names += (c ? ", \"" : "\"") + rows->column_name(c) + "\"";
      places += c ? ", ?" : "?";
    }
    SQLite::Statement insert(db, "INSERT INTO \"" + table + "\" (" + names + ") VALUES (" + places + ")");
    for (int r = 0; r < rows->size(); ++r) {
      insert.reset();
      insert.clearBindings();
      // Text into columns of INTEGER affinity is stored as the integer.
      for (int c = 0; c < rows->columns(); ++c) {
        if (!rows->is_null(r, c)) insert.bind(c + 1, rows->text(r, c));
      }
      insert.exec();
    }
  }
  set_local(replica, "cluster", cluster);
  set_local(replica, "seq", std::to_string(seq));
  return CatchUp{0, true, seq};
}

struct ApplyContext {
  bool conflict = false;
};

// A delete whose row is gone already (a cascade of an earlier row of the
// same change) is fine; anything else means the replica is not what the
// change was made against.
int on_conflict(void* context, int kind, sqlite3_changeset_iter* iter) {
  const char* table = nullptr;
  int ncol = 0, op = 0, indirect = 0;
  sqlite3changeset_op(iter, &table, &ncol, &op, &indirect);
  if (kind == SQLITE_CHANGESET_NOTFOUND && op == SQLITE_DELETE) return SQLITE_CHANGESET_OMIT;
  static_cast<ApplyContext*>(context)->conflict = true;
  return SQLITE_CHANGESET_ABORT;
}

// Applies one change; false when it does not apply cleanly.
bool apply_change(Database& replica, const std::string& changeset) {
  ApplyContext context;
  int rc = sqlite3changeset_apply(replica.sql().getHandle(), static_cast<int>(changeset.size()),
                                  const_cast<char*>(changeset.data()), nullptr, on_conflict, &context);
  return rc == SQLITE_OK && !context.conflict;
}

class PgUpstream : public Upstream {
 public:
  PgUpstream(std::shared_ptr<Connection> conn, std::optional<DkimKeyFiles> dkim_files)
      : conn_(std::move(conn)), dkim_files_(std::move(dkim_files)) {}

  Status lock() override {
    if (Status s = conn_->exec("BEGIN"); !s.ok()) return s;
    open_ = true;
    auto r = conn_->query("SELECT pg_advisory_xact_lock($1)", {std::to_string(kWriteLock)});
    return r.ok() ? Status::Ok() : r.status();
  }

  Status catch_up(Database& replica) override {
    auto r = catch_up_in_transaction(*conn_, replica);
    return r.ok() ? Status::Ok() : r.status();
  }

  const std::vector<std::string>& tables() const override { return shared_tables(); }

  Status commit(Database& replica, const std::string& changeset) override {
    if (changeset.empty()) {
      rollback();
      return Status::Ok();
    }
    auto statements = statements_for(replica.sql(), changeset);
    if (!statements.ok()) return statements.status();
    if (Status s = apply_statements(*conn_, *statements); !s.ok()) return s;
    bool keys_changed = std::any_of(statements->begin(), statements->end(),
                                    [](const Statement& st) { return st.table == "dkim_keys"; });
    if (keys_changed && dkim_files_) {
      if (auto shared = upload_dkim_keys(*conn_, replica, *dkim_files_); !shared.ok()) return shared.status();
    }
    auto seq = conn_->query_binary_param("INSERT INTO vmail_changes (changeset) VALUES ($1) RETURNING seq", changeset);
    if (!seq.ok()) return seq.status();
    std::string number = seq->text(0, 0);
    if (std::stoll(number) % kPruneEvery == 0) {
      // One write in kPruneEvery drops what every node has long had; a
      // replica further behind is copied whole (catch_up_in_transaction).
      auto pruned =
          conn_->query("DELETE FROM vmail_changes WHERE seq < $1 AND time < now() - make_interval(days => $2)",
                       {number, std::to_string(kChangeLogDays)});
      if (!pruned.ok()) return pruned.status();
    }
    if (Status s = conn_->exec(std::string("NOTIFY ") + kChannel + ", '" + number + "'"); !s.ok()) return s;
    if (Status s = conn_->exec("COMMIT"); !s.ok()) return s;
    open_ = false;
    set_local(replica, "seq", number);
    return Status::Ok();
  }

  void rollback() noexcept override {
    if (!open_) return;
    open_ = false;
    if (conn_->alive()) (void)conn_->exec("ROLLBACK");
  }

 private:
  std::shared_ptr<Connection> conn_;
  std::optional<DkimKeyFiles> dkim_files_;
  bool open_ = false;
};

}  // namespace

const std::vector<std::string>& shared_tables() {
  static const std::vector<std::string> kTables = {"domains",
                                                   "users",
                                                   "aliases",
                                                   "alias_destinations",
                                                   "alias_domains",
                                                   "forwards",
                                                   "forward_destinations",
                                                   "user_access_denied",
                                                   "dkim_keys",
                                                   "audit_log"};
  return kTables;
}

Result<int64_t> replica_seq(Database& replica) {
  try {
    auto seq = local_value(replica, "seq");
    return seq ? std::stoll(*seq) : 0;
  } catch (const std::exception& e) {
    return sqlite_status(e, replica.path());
  }
}

Result<ChangeLogHead> change_log_head(Connection& conn) {
  auto head = conn.query("SELECT COALESCE(max(seq), 0), COALESCE(min(seq), 0), count(*) FROM vmail_changes");
  if (!head.ok()) return head.status();
  return ChangeLogHead{head->integer(0, 0), head->integer(0, 1), head->integer(0, 2)};
}

Result<CatchUp> catch_up_in_transaction(Connection& conn, Database& replica) {
  try {
    auto head = conn.query(
        "SELECT (SELECT id FROM vmail_cluster LIMIT 1), (SELECT COALESCE(max(seq), 0) FROM vmail_changes), "
        "(SELECT COALESCE(min(seq), 0) FROM vmail_changes)");
    if (!head.ok()) return head.status();
    std::string cluster = head->text(0, 0);
    int64_t upstream_seq = head->integer(0, 1);
    int64_t oldest_kept = head->integer(0, 2);
    std::optional<std::string> local_cluster = local_value(replica, "cluster");
    int64_t seq = 0;
    if (auto v = local_value(replica, "seq")) seq = std::stoll(*v);
    // The changes after `seq` may have been pruned (a node away for longer
    // than the change log keeps): then the gap is unknown. A seq number a
    // rolled-back write took can look like such a gap; copying whole is
    // right in that case too, only slower.
    bool pruned_past = seq < upstream_seq && seq + 1 < oldest_kept;
    if (local_cluster != cluster || seq > upstream_seq || pruned_past) {
      return full_resync(conn, replica, cluster, upstream_seq);
    }
    CatchUp result{0, false, seq};
    if (seq == upstream_seq) return result;
    auto changes =
        conn.query("SELECT seq, changeset FROM vmail_changes WHERE seq > $1 ORDER BY seq", {std::to_string(seq)}, true);
    if (!changes.ok()) return changes.status();
    for (int r = 0; r < changes->size(); ++r) {
      if (!apply_change(replica, changes->text(r, 1))) {
        // Undo what was applied of it, then copy the store whole.
        return full_resync(conn, replica, cluster, upstream_seq);
      }
      result.seq = big_endian_int64(changes->text(r, 0));
      ++result.applied;
    }
    set_local(replica, "seq", std::to_string(result.seq));
    return result;
  } catch (const std::exception& e) {
    return sqlite_status(e, replica.path());
  }
}

Result<CatchUp> catch_up(Connection& conn, Database& replica) {
  if (Status s = conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !s.ok()) return s;
  Result<CatchUp> result = CatchUp{};
  Status s = replica.write_local([&]() -> Status {
    result = catch_up_in_transaction(conn, replica);
    return result.ok() ? Status::Ok() : result.status();
  });
  if (conn.alive()) (void)conn.exec("COMMIT");
  if (!s.ok()) return s;
  return result;
}

Result<Joined> join_shared_store(const Settings& settings, Database& replica) {
  auto opened = Connection::open(settings);
  if (!opened.ok()) return opened.status();
  std::shared_ptr<Connection> conn = std::move(*opened);
  if (Status st = migrate(*conn); !st.ok()) return st;
  auto caught = catch_up(*conn, replica);
  if (!caught.ok()) return caught.status();
  DkimKeyFiles key_files = dkim_key_files(settings, process_env());
  if (auto keys = fetch_dkim_keys(*conn, replica, key_files); !keys.ok()) return keys.status();
  attach_upstream(replica, conn, key_files);
  return Joined{conn, *caught};
}

void attach_upstream(Database& replica, std::shared_ptr<Connection> conn, std::optional<DkimKeyFiles> dkim_files) {
  replica.set_upstream(std::make_shared<PgUpstream>(std::move(conn), std::move(dkim_files)));
}

}  // namespace vmail::pg
