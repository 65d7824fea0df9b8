// Store::read_batch / write_batch and StoreBatch (store.h): the batch import's
// lookups and writes, by the statements of the single commands (store_rows.h).
#include <map>
#include <nlohmann/json.hpp>

#include "core/routing.h"
#include "core/store.h"
#include "core/store_rows.h"

namespace vmail {

struct StoreBatch::Statements {
  explicit Statements(SQLite::Database& db)
      : db(db),
        domain(db, kDomainIdByName),
        user(db, kUserExists),
        alias(db, kAliasIdBySource),
        has_destination(db, kAliasHasDestination) {}

  // The write statements are prepared at their first use: a read batch
  // never needs them.
  SQLite::Statement& insert_user() { return prepared(insert_user_, kInsertUser); }
  SQLite::Statement& update_user() {
    // Columns the caller does not ask for keep their value.
    static const std::string sql = std::string(
                                       "UPDATE users SET password = ?1, name = CASE WHEN ?2 THEN ?3 ELSE name END, "
                                       "quota = CASE WHEN ?4 THEN ?5 ELSE quota END, "
                                       "enabled = CASE WHEN ?6 THEN ?7 ELSE enabled END, ") +
                                   kTouchUpdated + " WHERE address = ?8";
    return prepared(update_user_, sql.c_str());
  }
  SQLite::Statement& insert_alias() { return prepared(insert_alias_, kInsertAlias); }
  SQLite::Statement& last_position() { return prepared(last_position_, kLastDestinationPosition); }
  SQLite::Statement& insert_destination() { return prepared(insert_destination_, kInsertDestination); }

  SQLite::Database& db;
  SQLite::Statement domain, user, alias, has_destination;
  std::map<std::string, Result<int64_t>> domains;
  NextHops hops;

 private:
  SQLite::Statement& prepared(std::optional<SQLite::Statement>& q, const char* sql) {
    if (!q) q.emplace(db, sql);
    q->reset();
    return *q;
  }
  std::optional<SQLite::Statement> insert_user_, update_user_, insert_alias_, last_position_, insert_destination_;
};

StoreBatch::StoreBatch(Store& store) : store_(store), q_(std::make_unique<Statements>(store.db_.sql())) {}
StoreBatch::~StoreBatch() = default;

Status Store::read_batch(const std::function<Status(StoreBatch&)>& body) {
  return db_.read([&]() -> Status {
    StoreBatch batch(*this);
    return body(batch);
  });
}

Status Store::write_batch(const std::function<Status(StoreBatch&)>& body) {
  return db_.write([&]() -> Status {
    StoreBatch batch(*this);
    return body(batch);
  });
}

Result<int64_t> StoreBatch::domain_id(const std::string& name) {
  auto it = q_->domains.find(name);
  if (it != q_->domains.end()) return it->second;
  SQLite::Statement& q = q_->domain;
  q.reset();
  q.bind(1, name);
  Result<int64_t> id = no_domain(name);
  if (q.executeStep()) {
    id = q.getColumn(0).getInt64();
    if (Status s = refuse_alias_domain(q_->db, name); !s.ok()) id = s;
  }
  q_->domains.emplace(name, id);
  return id;
}

bool StoreBatch::user_exists(const std::string& address) {
  SQLite::Statement& q = q_->user;
  q.reset();
  q.bind(1, address);
  return q.executeStep();
}

std::optional<int64_t> StoreBatch::alias_id(const std::string& source) {
  SQLite::Statement& q = q_->alias;
  q.reset();
  q.bind(1, source);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getInt64();
}

bool StoreBatch::has_destination(int64_t alias_id, const std::string& destination) {
  SQLite::Statement& q = q_->has_destination;
  q.reset();
  q.bind(1, alias_id);
  q.bind(2, destination);
  return q.executeStep();
}

void StoreBatch::add_user(int64_t domain_id, const User& user) {
  SQLite::Statement& q = q_->insert_user();
  bind_new_user(q, domain_id, user);
  q.exec();
}

void StoreBatch::update_user(const User& user, UserFields fields) {
  SQLite::Statement& q = q_->update_user();
  q.bind(1, user.password);
  q.bind(2, fields.name ? 1 : 0);
  q.bind(3, user.name);
  q.bind(4, fields.quota ? 1 : 0);
  if (user.quota) {
    q.bind(5, static_cast<int64_t>(*user.quota));
  } else {
    q.bind(5);
  }
  q.bind(6, fields.enabled ? 1 : 0);
  q.bind(7, user.enabled ? 1 : 0);
  q.bind(8, user.address);
  q.exec();
}

void StoreBatch::add_alias(int64_t domain_id, const std::string& source, std::optional<int64_t> existing,
                           const std::vector<std::string>& destinations) {
  int64_t id;
  int64_t position = 0;
  if (existing) {
    id = *existing;
    SQLite::Statement& last = q_->last_position();
    last.bind(1, id);
    last.executeStep();
    position = last.getColumn(0).getInt64();
  } else {
    SQLite::Statement& ins = q_->insert_alias();
    ins.bind(1, domain_id);
    ins.bind(2, source);
    ins.exec();
    id = q_->db.getLastInsertRowid();
  }
  for (const std::string& dest : destinations) {
    SQLite::Statement& ins = q_->insert_destination();
    ins.bind(1, id);
    ins.bind(2, ++position);
    ins.bind(3, dest);
    ins.exec();
  }
}

std::vector<std::string> StoreBatch::stored_hops(const std::string& address) {
  if (!q_->hops) q_->hops = vmail::stored_hops(q_->db);
  return q_->hops(address);
}

void StoreBatch::audit(std::string_view action, std::string_view object, const nlohmann::json& old_value,
                       const nlohmann::json& new_value) {
  store_.audit(action, object, old_value, new_value);
}

}  // namespace vmail
