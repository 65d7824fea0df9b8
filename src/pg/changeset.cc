#include "pg/changeset.h"

#include "pg/replica.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>

namespace vmail::pg {
namespace {

std::string quote_ident(const std::string& name) { return "\"" + name + "\""; }

Param to_param(sqlite3_value* v) {
  if (v == nullptr) return std::nullopt;
  switch (sqlite3_value_type(v)) {
    case SQLITE_NULL: return std::nullopt;
    case SQLITE_INTEGER: return std::to_string(sqlite3_value_int64(v));
    case SQLITE_FLOAT: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", sqlite3_value_double(v));
      return std::string(buf);
    }
    default: {
      const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(v));
      return std::string(text ? text : "", static_cast<size_t>(sqlite3_value_bytes(v)));
    }
  }
}

// Column names of `table` in declaration order (the changeset's order).
const std::vector<std::string>& columns_of(SQLite::Database& db, const std::string& table,
                                           std::map<std::string, std::vector<std::string>>& cache) {
  auto it = cache.find(table);
  if (it != cache.end()) return it->second;
  std::vector<std::string> names;
  SQLite::Statement q(db, "SELECT name FROM pragma_table_info(?) ORDER BY cid");
  q.bind(1, table);
  while (q.executeStep()) names.push_back(q.getColumn(0).getString());
  return cache.emplace(table, std::move(names)).first->second;
}

// "a" = $n AND "b" = $m over the key columns, values from `value(i)`.
template <typename Value>
std::string key_match(const std::vector<std::string>& cols, const unsigned char* pk, int ncol, Statement& st,
                      Value value) {
  std::string where;
  for (int i = 0; i < ncol; ++i) {
    if (!pk[i]) continue;
    st.params.push_back(to_param(value(i)));
    if (!where.empty()) where += " AND ";
    where += quote_ident(cols[i]) + " = $" + std::to_string(st.params.size());
  }
  return where;
}

// The table's place in shared_tables() (parents first); unknown ones last.
int table_rank(const std::string& table) {
  const auto& tables = shared_tables();
  return static_cast<int>(std::find(tables.begin(), tables.end(), table) - tables.begin());
}

}  // namespace

Result<std::vector<Statement>> statements_for(SQLite::Database& db, const std::string& changeset) {
  std::vector<Statement> deletes, updates, inserts;
  if (changeset.empty()) return deletes;
  sqlite3_changeset_iter* iter = nullptr;
  if (sqlite3changeset_start(&iter, static_cast<int>(changeset.size()), const_cast<char*>(changeset.data())) !=
      SQLITE_OK) {
    return Status(Code::kInternal, "cannot read a recorded change");
  }
  std::unique_ptr<sqlite3_changeset_iter, decltype(&sqlite3changeset_finalize)> owned(iter, &sqlite3changeset_finalize);
  std::map<std::string, std::vector<std::string>> cache;
  while (sqlite3changeset_next(iter) == SQLITE_ROW) {
    const char* table_name = nullptr;
    int ncol = 0, op = 0, indirect = 0;
    unsigned char* pk = nullptr;
    sqlite3changeset_op(iter, &table_name, &ncol, &op, &indirect);
    sqlite3changeset_pk(iter, &pk, nullptr);
    std::string table = table_name;
    const auto& cols = columns_of(db, table, cache);
    if (static_cast<int>(cols.size()) != ncol) {
      return Status(Code::kInternal, "a recorded change of " + table + " does not match its columns");
    }
    auto old_value = [&](int i) {
      sqlite3_value* v = nullptr;
      sqlite3changeset_old(iter, i, &v);
      return v;
    };
    auto new_value = [&](int i) {
      sqlite3_value* v = nullptr;
      sqlite3changeset_new(iter, i, &v);
      return v;
    };
    Statement st;
    st.table = table;
    st.rank = table_rank(table);
    if (op == SQLITE_DELETE) {
      st.kind = Statement::Kind::kDelete;
      std::string where = key_match(cols, pk, ncol, st, old_value);
      st.sql = "DELETE FROM " + quote_ident(table) + " WHERE " + where;
      deletes.push_back(std::move(st));
    } else if (op == SQLITE_UPDATE) {
      st.kind = Statement::Kind::kUpdate;
      std::string set;
      for (int i = 0; i < ncol; ++i) {
        sqlite3_value* v = new_value(i);
        if (v == nullptr) continue;  // unchanged
        st.params.push_back(to_param(v));
        if (!set.empty()) set += ", ";
        set += quote_ident(cols[i]) + " = $" + std::to_string(st.params.size());
      }
      // The key as it was: SQLite records a changed key as delete + insert.
      std::string where = key_match(cols, pk, ncol, st, old_value);
      st.sql = "UPDATE " + quote_ident(table) + " SET " + set + " WHERE " + where;
      updates.push_back(std::move(st));
    } else {
      st.kind = Statement::Kind::kInsert;
      std::string names, places;
      for (int i = 0; i < ncol; ++i) {
        st.params.push_back(to_param(new_value(i)));
        names += (i ? ", " : "") + quote_ident(cols[i]);
        places += (i ? ", $" : "$") + std::to_string(i + 1);
      }
      st.sql = "INSERT INTO " + quote_ident(table) + " (" + names + ") VALUES (" + places + ")";
      inserts.push_back(std::move(st));
    }
  }
  // Children before parents when deleting, parents first when inserting.
  std::stable_sort(deletes.begin(), deletes.end(),
                   [](const Statement& a, const Statement& b) { return a.rank > b.rank; });
  std::stable_sort(inserts.begin(), inserts.end(),
                   [](const Statement& a, const Statement& b) { return a.rank < b.rank; });
  std::vector<Statement> all = std::move(deletes);
  for (auto& s : updates) all.push_back(std::move(s));
  for (auto& s : inserts) all.push_back(std::move(s));
  return all;
}

Status apply_statements(Connection& conn, const std::vector<Statement>& statements) {
  std::vector<std::pair<std::string, std::vector<Param>>> batch;
  batch.reserve(statements.size());
  for (const Statement& st : statements) batch.emplace_back(st.sql, st.params);
  auto affected = conn.pipeline(batch);
  if (!affected.ok()) return affected.status();
  for (size_t i = 0; i < statements.size(); ++i) {
    const Statement& st = statements[i];
    if (st.kind == Statement::Kind::kUpdate && (*affected)[i] != 1) {
      return Status(Code::kBusy, "PostgreSQL " + conn.name() + ": the shared store and this node's replica disagree (" +
                                     st.sql.substr(0, st.sql.find(" SET")) + "); try again");
    }
  }
  return Status::Ok();
}

}  // namespace vmail::pg
