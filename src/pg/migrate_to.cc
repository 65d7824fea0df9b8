#include "pg/migrate_to.h"

#include "pg/dkim_share.h"

#include <algorithm>
#include <map>
#include <optional>

#include "pg/replica.h"
#include "pg/schema.h"

namespace vmail::pg {
namespace {

// PostgreSQL takes at most 65535 parameters a statement; batches stay well below.
constexpr size_t kParamsPerInsert = 20000;

using Row = std::vector<Param>;

std::string quoted(const std::string& name) { return "\"" + name + "\""; }

// The values of one SQLite row as text (integers in decimal, as PostgreSQL prints them).
Row sqlite_row(SQLite::Statement& q) {
  Row row;
  for (int c = 0; c < q.getColumnCount(); ++c) {
    SQLite::Column col = q.getColumn(c);
    row.push_back(col.isNull() ? Param() : Param(col.getString()));
  }
  return row;
}

// Column names and the positions of the primary key's columns.
struct Shape {
  std::vector<std::string> columns;
  std::vector<size_t> key;
};

Shape table_shape(Database& db, const std::string& table) {
  Shape shape;
  std::vector<std::pair<int, size_t>> key;
  SQLite::Statement q(db.sql(), "SELECT name, pk FROM pragma_table_info(?) ORDER BY cid");
  q.bind(1, table);
  while (q.executeStep()) {
    if (int pk = q.getColumn(1).getInt(); pk > 0) key.emplace_back(pk, shape.columns.size());
    shape.columns.push_back(q.getColumn(0).getString());
  }
  std::sort(key.begin(), key.end());
  for (const auto& [order, column] : key) shape.key.push_back(column);
  if (shape.key.empty()) {
    for (size_t c = 0; c < shape.columns.size(); ++c) shape.key.push_back(c);
  }
  return shape;
}

// "a", "b", … for a column list.
std::string column_list(const Shape& shape) {
  std::string names;
  for (const std::string& column : shape.columns) names += (names.empty() ? "" : ", ") + quoted(column);
  return names;
}

std::string key_of(const Shape& shape, const Row& row) {
  std::string key;
  for (size_t c : shape.key) {
    if (!key.empty()) key += ", ";
    key += shape.columns[c] + "=" + row[c].value_or("NULL");
  }
  return key;
}

Status insert_batch(Connection& target, const std::string& table, const Shape& shape, const std::vector<Row>& rows) {
  std::string sql = "INSERT INTO " + quoted(table) + " (" + column_list(shape) + ") VALUES ";
  std::vector<Param> params;
  for (size_t r = 0; r < rows.size(); ++r) {
    sql += r ? ", (" : "(";
    for (size_t c = 0; c < rows[r].size(); ++c) {
      params.push_back(rows[r][c]);
      sql += std::string(c ? ", $" : "$") + std::to_string(params.size());
    }
    sql += ")";
  }
  auto done = target.query(sql, params);
  return done.ok() ? Status::Ok() : done.status();
}

// Copies one table in multi-row INSERTs; returns the rows copied.
Result<int64_t> copy_table(Database& source, Connection& target, const std::string& table) {
  Shape shape = table_shape(source, table);
  size_t per_batch = std::max<size_t>(1, kParamsPerInsert / std::max<size_t>(1, shape.columns.size()));
  SQLite::Statement q(source.sql(), "SELECT * FROM " + quoted(table));
  std::vector<Row> batch;
  int64_t copied = 0;
  while (q.executeStep()) {
    batch.push_back(sqlite_row(q));
    if (batch.size() < per_batch) continue;
    if (Status s = insert_batch(target, table, shape, batch); !s.ok()) return s;
    copied += static_cast<int64_t>(batch.size());
    batch.clear();
  }
  if (!batch.empty()) {
    if (Status s = insert_batch(target, table, shape, batch); !s.ok()) return s;
    copied += static_cast<int64_t>(batch.size());
  }
  return copied;
}

// Both sides row for row, matched by primary key, values compared as text.
Status verify_table(Database& source, Connection& target, const std::string& table) {
  Shape shape = table_shape(source, table);
  std::map<std::string, Row> expected;
  SQLite::Statement q(source.sql(), "SELECT * FROM " + quoted(table));
  while (q.executeStep()) {
    Row row = sqlite_row(q);
    expected.emplace(key_of(shape, row), std::move(row));
  }
  auto rows = target.query("SELECT " + column_list(shape) + " FROM " + quoted(table));
  if (!rows.ok()) return rows.status();
  auto differs = [&](const std::string& key, const std::string& how) {
    return Status(Code::kBadInput, "verify: table " + table + " row (" + key + ") " + how + "; nothing was copied");
  };
  for (int r = 0; r < rows->size(); ++r) {
    Row row;
    for (int c = 0; c < rows->columns(); ++c) row.push_back(rows->value(r, c));
    std::string key = key_of(shape, row);
    auto it = expected.find(key);
    if (it == expected.end()) return differs(key, "is not in the SQLite store");
    for (size_t c = 0; c < row.size(); ++c) {
      if (row[c] != it->second[c]) return differs(key, "differs in column " + shape.columns[c]);
    }
    expected.erase(it);
  }
  if (!expected.empty()) return differs(expected.begin()->first, "is missing in PostgreSQL");
  return Status::Ok();
}

Status refuse_unless_empty(Connection& target) {
  for (const std::string& table : shared_tables()) {
    auto any = target.query("SELECT EXISTS (SELECT 1 FROM " + quoted(table) + ")");
    if (!any.ok()) return any.status();
    if (any->text(0, 0) == "t") {
      return Status(Code::kBadInput, "PostgreSQL " + target.name() + " already holds a vmail store (table " + table +
                                         " has rows); nothing was copied");
    }
  }
  return Status::Ok();
}

Result<MigrateToReport> copy_all(Database& source, Connection& target) {
  auto locked = target.query("SELECT pg_advisory_xact_lock($1)", {std::to_string(kWriteLock)});
  if (!locked.ok()) return locked.status();
  if (Status s = refuse_unless_empty(target); !s.ok()) return s;
  MigrateToReport report;
  Status s = source.read([&]() -> Status {
    for (const std::string& table : shared_tables()) {
      auto n = copy_table(source, target, table);
      if (!n.ok()) return n.status();
      report.copied.emplace_back(table, *n);
    }
    // The constraints are deferred: check them now, before comparing.
    if (Status st = target.exec("SET CONSTRAINTS ALL IMMEDIATE"); !st.ok()) return st;
    for (const std::string& table : shared_tables()) {
      if (Status st = verify_table(source, target, table); !st.ok()) return st;
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  auto cluster = target.query("UPDATE vmail_cluster SET id = gen_random_uuid()::text RETURNING id");
  if (!cluster.ok()) return cluster.status();
  if (cluster->size() != 1) return Status(Code::kInternal, "PostgreSQL " + target.name() + ": no vmail_cluster row");
  report.cluster = cluster->text(0, 0);
  return report;
}

}  // namespace

Result<MigrateToReport> migrate_to(Database& source, Connection& target, const DkimKeyFiles* dkim_files) {
  if (Status s = target.exec("BEGIN"); !s.ok()) return s;
  auto report = copy_all(source, target);
  if (report.ok() && dkim_files != nullptr) {
    // The private keys go along, so every node can sign for every domain.
    auto shared = upload_dkim_keys(target, source, *dkim_files);
    if (!shared.ok()) report = shared.status();
  }
  if (!report.ok()) {
    if (target.alive()) (void)target.exec("ROLLBACK");
    return report.status();
  }
  if (Status s = target.exec("COMMIT"); !s.ok()) return s;
  return report;
}

}  // namespace vmail::pg
