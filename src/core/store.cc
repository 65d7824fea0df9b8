#include "core/store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "core/routing.h"
#include "core/row_policy.h"
#include "core/store_rows.h"

namespace vmail {

const char* const kInsertUser =
    "INSERT INTO users (domain_id, local, address, password, name, quota, enabled) VALUES (?, ?, ?, ?, ?, ?, ?)";
const char* const kTouchUpdated = "updated = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";
const char* const kInsertAlias = "INSERT INTO aliases (domain_id, source) VALUES (?, ?)";
const char* const kInsertDestination =
    "INSERT INTO alias_destinations (alias_id, position, destination) VALUES (?, ?, ?)";
const char* const kLastDestinationPosition =
    "SELECT coalesce(max(position), 0) FROM alias_destinations WHERE alias_id = ?";
const char* const kDomainIdByName = "SELECT id FROM domains WHERE name = ?";
const char* const kUserExists = "SELECT 1 FROM users WHERE address = ?";
const char* const kAliasIdBySource = "SELECT id FROM aliases WHERE source = ?";
const char* const kAliasHasDestination = "SELECT 1 FROM alias_destinations WHERE alias_id = ? AND destination = ?";

std::optional<int64_t> user_id(SQLite::Database& db, const std::string& address) {
  SQLite::Statement q(db, "SELECT id FROM users WHERE address = ?");
  q.bind(1, address);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getInt64();
}

Status no_user(const std::string& address) {
  return Status(Code::kNotFound, "address " + quote(address) + ": no such user");
}

void bind_new_user(SQLite::Statement& q, int64_t domain_id, const User& user) {
  q.bind(1, domain_id);
  q.bind(2, user.local);
  q.bind(3, user.address);
  q.bind(4, user.password);
  q.bind(5, user.name);
  if (user.quota) {
    q.bind(6, static_cast<int64_t>(*user.quota));
  } else {
    q.bind(6);
  }
  q.bind(7, user.enabled ? 1 : 0);
}

const char* const kUserColumns =
    "u.address, u.local, d.name, u.name, u.password, u.quota, u.enabled, u.created, u.updated, u.send_limit";

User read_user_row(SQLite::Statement& q) {
  User u;
  u.address = q.getColumn(0).getString();
  u.local = q.getColumn(1).getString();
  u.domain = q.getColumn(2).getString();
  u.name = q.getColumn(3).getString();
  u.password = q.getColumn(4).getString();
  if (!q.getColumn(5).isNull()) u.quota = static_cast<uint64_t>(q.getColumn(5).getInt64());
  u.enabled = q.getColumn(6).getInt() != 0;
  u.created = q.getColumn(7).getString();
  u.updated = q.getColumn(8).getString();
  if (!q.getColumn(9).isNull()) u.send_limit = q.getColumn(9).getInt64();
  return u;
}

namespace {

// Rows read back are untrusted (row_policy.h): a list never prints a row
// that fails the policy (it could carry a control character to the terminal,
// or a name no command accepts); it is left out with one log line, as the
// exporters leave it out of the files.
template <typename T, typename Safe, typename Name>
void drop_unsafe_rows(std::vector<T>& rows, std::string_view table, Safe safe, Name name) {
  rows.erase(std::remove_if(rows.begin(), rows.end(),
                            [&](const T& row) {
                              if (safe(row)) return false;
                              spdlog::warn("{} row {}: fails the row policy; left out", table, quote(name(row)));
                              return true;
                            }),
             rows.end());
}

bool safe_user_row(const User& u) {
  return row_safe_user(u.address, u.local, u.domain) && row_safe_display_name(u.name);
}

bool safe_alias_row(const Alias& a) {
  return row_safe_alias_source(a.source) && row_safe_domain(a.domain) &&
         std::all_of(a.destinations.begin(), a.destinations.end(),
                     [](const std::string& d) { return row_safe_address(d); });
}

using json = nlohmann::json;

// What the audit log keeps of a user: never the password or its hash.
json user_record(const User& u) {
  return json{{"name", u.name}, {"quota", u.quota ? json(*u.quota) : json(nullptr)}, {"enabled", u.enabled}};
}

bool user_exists(SQLite::Database& db, const std::string& address) {
  SQLite::Statement q(db, kUserExists);
  q.bind(1, address);
  return q.executeStep();
}

std::optional<int64_t> alias_id(SQLite::Database& db, const std::string& source) {
  SQLite::Statement q(db, kAliasIdBySource);
  q.bind(1, source);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getInt64();
}

std::optional<User> read_user(SQLite::Database& db, const std::string& address) {
  SQLite::Statement q(db, std::string("SELECT ") + kUserColumns +
                              " FROM users u JOIN domains d ON d.id = u.domain_id WHERE u.address = ?");
  q.bind(1, address);
  if (!q.executeStep()) return std::nullopt;
  return read_user_row(q);
}

// Runs an UPDATE on one user and maps "no row" to 67; `record` gets the row
// as it was before, inside the same transaction (for the audit log).
Status update_user(Database& db, const std::string& address, const std::string& set_clause,
                   const std::function<void(SQLite::Statement&)>& bind,
                   const std::function<void(const User&)>& record) {
  return db.write([&]() -> Status {
    std::optional<User> before = read_user(db.sql(), address);
    if (!before) return no_user(address);
    SQLite::Statement q(db.sql(), "UPDATE users SET " + set_clause + ", " + kTouchUpdated + " WHERE address = ?");
    bind(q);
    q.bind(q.getBindParameterCount(), address);
    if (q.exec() == 0) return no_user(address);
    record(*before);
    return Status::Ok();
  });
}

std::vector<std::string> destinations_of(SQLite::Database& db, int64_t alias_id) {
  SQLite::Statement q(db, "SELECT destination FROM alias_destinations WHERE alias_id = ? ORDER BY position");
  q.bind(1, alias_id);
  std::vector<std::string> out;
  while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  return out;
}

json destinations_record(const std::vector<std::string>& destinations) {
  return destinations.empty() ? json(nullptr) : json{{"destinations", destinations}};
}

std::vector<Alias> read_aliases(SQLite::Database& db, const std::optional<int64_t>& domain) {
  std::string sql =
      "SELECT a.source, d.name, ad.destination FROM aliases a JOIN domains d ON d.id = a.domain_id "
      "JOIN alias_destinations ad ON ad.alias_id = a.id";
  if (domain) sql += " WHERE a.domain_id = ?";
  sql += " ORDER BY a.source, ad.position, ad.destination";
  SQLite::Statement q(db, sql);
  if (domain) q.bind(1, *domain);
  std::vector<Alias> out;
  while (q.executeStep()) {
    std::string source = q.getColumn(0).getString();
    if (out.empty() || out.back().source != source) out.push_back(Alias{source, q.getColumn(1).getString(), {}});
    out.back().destinations.push_back(q.getColumn(2).getString());
  }
  return out;
}

std::vector<User> read_users(SQLite::Database& db, const std::optional<int64_t>& domain) {
  std::string sql = std::string("SELECT ") + kUserColumns + " FROM users u JOIN domains d ON d.id = u.domain_id";
  if (domain) sql += " WHERE u.domain_id = ?";
  sql += " ORDER BY u.address";
  SQLite::Statement q(db, sql);
  if (domain) q.bind(1, *domain);
  std::vector<User> out;
  while (q.executeStep()) out.push_back(read_user_row(q));
  return out;
}

}  // namespace

Status no_domain(const std::string& domain) {
  return Status(Code::kNotFound, "domain " + quote(domain) + ": no such domain");
}

std::optional<int64_t> domain_id(SQLite::Database& db, const std::string& domain) {
  SQLite::Statement q(db, kDomainIdByName);
  q.bind(1, domain);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getInt64();
}

void Store::audit(std::string_view action, std::string_view object, const json& old_value, const json& new_value) {
  record_change(db_.sql(), actor_, Change{action, object, old_value, new_value});
}

Status Store::add_domain(const std::string& domain, const NewDkimKeys* dkim) {
  return write_with_key_files(dkim, domain, [&](std::vector<std::string>& written) -> Status {
    if (domain_id(db_.sql(), domain)) return Status(Code::kBadInput, "domain " + quote(domain) + ": already exists");
    SQLite::Statement q(db_.sql(), "INSERT INTO domains (name) VALUES (?)");
    q.bind(1, domain);
    q.exec();
    int64_t id = db_.sql().getLastInsertRowid();
    json added{{"name", domain}};
    if (dkim) {
      Status s;
      std::vector<DkimKey> retired;
      added["dkim"] = dkim_keys_record(insert_dkim_keys(id, domain, *dkim, false, written, s, retired));
      if (!s.ok()) return s;
    }
    audit("domain add", domain, nullptr, added);
    return Status::Ok();
  });
}

Status Store::delete_domain(const std::string& domain, bool force, std::vector<User>* removed_users) {
  return db_.write([&]() -> Status {
    auto id = domain_id(db_.sql(), domain);
    if (!id) return no_domain(domain);
    std::vector<User> users = read_users(db_.sql(), id);
    SQLite::Statement count(db_.sql(), "SELECT count(*) FROM aliases WHERE domain_id = ?");
    count.bind(1, *id);
    count.executeStep();
    int64_t aliases = count.getColumn(0).getInt64();
    if (!force && (!users.empty() || aliases > 0)) {
      return Status(Code::kBadInput, "domain " + quote(domain) + ": in use by " + std::to_string(users.size()) +
                                         " users and " + std::to_string(aliases) + " aliases (use --force)");
    }
    std::vector<std::string> aliased_by = alias_domains_of(db_.sql(), *id);
    if (!force && !aliased_by.empty()) {
      return Status(Code::kBadInput, "domain " + quote(domain) + ": target of the alias domain " +
                                         quote(aliased_by.front()) + " (use --force to delete both)");
    }
    for (const std::string& alias : aliased_by) {
      SQLite::Statement q(db_.sql(), "DELETE FROM domains WHERE name = ?");
      q.bind(1, alias);
      q.exec();
    }
    for (const char* sql : {"DELETE FROM users WHERE domain_id = ?", "DELETE FROM aliases WHERE domain_id = ?",
                            "DELETE FROM domains WHERE id = ?"}) {
      SQLite::Statement q(db_.sql(), sql);
      q.bind(1, *id);
      q.exec();
    }
    audit("domain del", domain, json{{"name", domain}, {"users", users.size()}, {"aliases", aliases}}, nullptr);
    if (removed_users != nullptr) *removed_users = std::move(users);
    return Status::Ok();
  });
}

Result<std::vector<DomainInfo>> Store::list_domains() {
  std::vector<DomainInfo> out;
  Status s = db_.read([&]() -> Status {
    SQLite::Statement q(db_.sql(),
                        "SELECT d.name, (SELECT count(*) FROM users u WHERE u.domain_id = d.id), "
                        "(SELECT count(*) FROM aliases a WHERE a.domain_id = d.id), t.name FROM domains d "
                        "LEFT JOIN alias_domains ad ON ad.domain_id = d.id LEFT JOIN domains t ON t.id = ad.target_id "
                        "ORDER BY d.name");
    while (q.executeStep()) {
      out.push_back(
          DomainInfo{q.getColumn(0).getString(), q.getColumn(1).getInt64(), q.getColumn(2).getInt64(), std::nullopt});
      if (!q.getColumn(3).isNull()) out.back().alias_of = q.getColumn(3).getString();
    }
    drop_unsafe_rows(
        out, "domains",
        [](const DomainInfo& d) { return row_safe_domain(d.name) && (!d.alias_of || row_safe_domain(*d.alias_of)); },
        [](const DomainInfo& d) { return d.name; });
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

Result<bool> Store::domain_exists(const std::string& domain) {
  bool exists = false;
  Status s = db_.read([&]() -> Status {
    exists = domain_id(db_.sql(), domain).has_value();
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return exists;
}

namespace {

// Why a mailbox `address` of `domain` cannot be added, or Ok.
Status refuse_new_user(SQLite::Database& db, const std::string& address, const std::string& domain) {
  if (!domain_id(db, domain)) return no_domain(domain);
  if (Status s = refuse_alias_domain(db, domain); !s.ok()) return s;
  if (user_exists(db, address)) return Status(Code::kBadInput, "address " + quote(address) + ": user already exists");
  if (alias_id(db, address)) return Status(Code::kBadInput, "address " + quote(address) + ": already an alias source");
  return Status::Ok();
}

}  // namespace

Status Store::check_new_user(const Address& address) {
  return db_.read([&]() -> Status { return refuse_new_user(db_.sql(), address.str(), address.domain); });
}

Status Store::add_user(const User& user, const std::function<Status(const User&)>& in_transaction) {
  return db_.write([&]() -> Status {
    if (Status s = refuse_new_user(db_.sql(), user.address, user.domain); !s.ok()) return s;
    auto id = domain_id(db_.sql(), user.domain);
    SQLite::Statement q(db_.sql(), kInsertUser);
    bind_new_user(q, *id, user);
    q.exec();
    json added = user_record(user);
    added["password"] = "set";
    audit("user add", user.address, nullptr, added);
    if (in_transaction) return in_transaction(user);
    return Status::Ok();
  });
}

Status Store::delete_user(const std::string& address, User* removed) {
  return db_.write([&]() -> Status {
    std::optional<User> before = read_user(db_.sql(), address);
    if (!before) return no_user(address);
    SQLite::Statement q(db_.sql(), "DELETE FROM users WHERE address = ?");
    q.bind(1, address);
    q.exec();
    audit("user del", address, user_record(*before), nullptr);
    if (removed != nullptr) *removed = std::move(*before);
    return Status::Ok();
  });
}

Status Store::set_password(const std::string& address, const std::string& hash) {
  return update_user(
      db_, address, "password = ?", [&](SQLite::Statement& q) { q.bind(1, hash); },
      [&](const User&) {
        audit("user passwd", address, nullptr, json{{"password", "changed"}});
      });
}

Status Store::set_enabled(const std::string& address, bool enabled) {
  return update_user(
      db_, address, "enabled = ?", [&](SQLite::Statement& q) { q.bind(1, enabled ? 1 : 0); },
      [&](const User& old) {
        audit(enabled ? "user enable" : "user disable", address, json{{"enabled", old.enabled}},
              json{{"enabled", enabled}});
      });
}

Status Store::set_quota(const std::string& address, std::optional<uint64_t> quota) {
  auto as_json = [](const std::optional<uint64_t>& q) { return q ? json(*q) : json(nullptr); };
  return update_user(
      db_, address, "quota = ?",
      [&](SQLite::Statement& q) {
        if (quota) {
          q.bind(1, static_cast<int64_t>(*quota));
        } else {
          q.bind(1);
        }
      },
      [&](const User& old) {
        audit("user quota", address, json{{"quota", as_json(old.quota)}}, json{{"quota", as_json(quota)}});
      });
}

Status Store::audit_outside_change(std::string_view action, std::string_view object, const json& old_value,
                                   const json& new_value) {
  return db_.write([&]() -> Status {
    audit(action, object, old_value, new_value);
    return Status::Ok();
  });
}

Status Store::set_send_limit(const std::string& address, std::optional<int64_t> per_hour) {
  if (per_hour && *per_hour < 0) {
    return Status(Code::kBadInput, "send limit " + std::to_string(*per_hour) + ": must be 0 (none) or more");
  }
  auto as_json = [](const std::optional<int64_t>& n) {
    if (!n) return json("default");
    return *n == 0 ? json("none") : json(*n);
  };
  return update_user(
      db_, address, "send_limit = ?",
      [&](SQLite::Statement& q) {
        if (per_hour) {
          q.bind(1, *per_hour);
        } else {
          q.bind(1);
        }
      },
      [&](const User& old) {
        audit("user limit", address, json{{"per_hour", as_json(old.send_limit)}},
              json{{"per_hour", as_json(per_hour)}});
      });
}

Status Store::record_vacation(const std::string& address,
                              const std::function<Status(json& old_value, json& new_value)>& apply) {
  return db_.write([&]() -> Status {
    if (!user_exists(db_.sql(), address)) return no_user(address);
    json before, after;
    if (Status s = apply(before, after); !s.ok()) return s;
    if (!before.is_null() || !after.is_null()) audit("user vacation", address, before, after);
    return Status::Ok();
  });
}

Result<User> Store::get_user(const std::string& address) {
  std::optional<User> user;
  Status s = db_.read([&]() -> Status {
    user = read_user(db_.sql(), address);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (!user) return no_user(address);
  return *user;
}

Result<std::vector<User>> Store::list_users(const std::optional<std::string>& domain) {
  std::vector<User> out;
  Status s = db_.read([&]() -> Status {
    std::optional<int64_t> id;
    if (domain) {
      id = domain_id(db_.sql(), *domain);
      if (!id) return no_domain(*domain);
    }
    out = read_users(db_.sql(), id);
    drop_unsafe_rows(out, "users", safe_user_row, [](const User& u) { return u.address; });
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

Status Store::add_alias(const Address& source, const std::vector<std::string>& destinations) {
  const std::string src = source.local.empty() ? "@" + source.domain : source.str();
  return db_.write([&]() -> Status {
    auto did = domain_id(db_.sql(), source.domain);
    if (!did) return no_domain(source.domain);
    if (Status s = refuse_alias_domain(db_.sql(), source.domain); !s.ok()) return s;
    if (user_exists(db_.sql(), src)) return Status(Code::kBadInput, "source " + quote(src) + ": already a mailbox");
    auto aid = alias_id(db_.sql(), src);
    const std::vector<std::string> before = aid ? destinations_of(db_.sql(), *aid) : std::vector<std::string>();
    if (!aid) {
      SQLite::Statement ins(db_.sql(), kInsertAlias);
      ins.bind(1, *did);
      ins.bind(2, src);
      ins.exec();
      aid = db_.sql().getLastInsertRowid();
    }
    SQLite::Statement pos(db_.sql(), kLastDestinationPosition);
    pos.bind(1, *aid);
    pos.executeStep();
    int64_t next = pos.getColumn(0).getInt64() + 1;
    SQLite::Statement exists(db_.sql(), kAliasHasDestination);
    SQLite::Statement ins(db_.sql(), kInsertDestination);
    for (const std::string& dest : destinations) {
      exists.reset();
      exists.bind(1, *aid);
      exists.bind(2, dest);
      if (exists.executeStep()) {
        return Status(Code::kBadInput, "destination " + quote(dest) + ": already a destination of " + quote(src));
      }
      ins.reset();
      ins.bind(1, *aid);
      ins.bind(2, next++);
      ins.bind(3, dest);
      ins.exec();
    }
    if (Status s = check_no_loop(db_.sql(), {src}, "alias"); !s.ok()) return s;
    audit("alias add", src, destinations_record(before), destinations_record(destinations_of(db_.sql(), *aid)));
    return Status::Ok();
  });
}

Status Store::delete_alias(const std::string& source, const std::optional<std::string>& destination) {
  return db_.write([&]() -> Status {
    auto aid = alias_id(db_.sql(), source);
    if (!aid) return Status(Code::kNotFound, "source " + quote(source) + ": no such alias");
    const json before = destinations_record(destinations_of(db_.sql(), *aid));
    if (destination) {
      SQLite::Statement del(db_.sql(), "DELETE FROM alias_destinations WHERE alias_id = ? AND destination = ?");
      del.bind(1, *aid);
      del.bind(2, *destination);
      if (del.exec() == 0) {
        return Status(Code::kNotFound,
                      "destination " + quote(*destination) + ": not a destination of " + quote(source));
      }
      std::vector<std::string> left = destinations_of(db_.sql(), *aid);
      if (!left.empty()) {
        audit("alias del", source, before, destinations_record(left));
        return Status::Ok();
      }
    }
    SQLite::Statement del(db_.sql(), "DELETE FROM aliases WHERE id = ?");
    del.bind(1, *aid);
    del.exec();
    audit("alias del", source, before, nullptr);
    return Status::Ok();
  });
}

Result<std::vector<Alias>> Store::list_aliases(const std::optional<std::string>& domain) {
  std::vector<Alias> out;
  Status s = db_.read([&]() -> Status {
    std::optional<int64_t> id;
    if (domain) {
      id = domain_id(db_.sql(), *domain);
      if (!id) return no_domain(*domain);
    }
    out = read_aliases(db_.sql(), id);
    drop_unsafe_rows(out, "aliases", safe_alias_row, [](const Alias& a) { return a.source; });
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

Result<Snapshot> Store::snapshot() {
  // Large installations export often, so this avoids the per-row join and
  // copies of read_users: domains are read once and users are filled in
  // place into a vector reserved to size, without the times no export uses.
  Snapshot snap;
  Status s = db_.read([&]() -> Status {
    std::map<int64_t, size_t> domain_index;
    SQLite::Statement d(db_.sql(), "SELECT id, name FROM domains ORDER BY name");
    while (d.executeStep()) {
      domain_index[d.getColumn(0).getInt64()] = snap.domains.size();
      snap.domains.push_back(d.getColumn(1).getString());
    }
    SQLite::Statement count(db_.sql(), "SELECT count(*) FROM users");
    if (count.executeStep()) snap.users.reserve(static_cast<size_t>(count.getColumn(0).getInt64()));
    SQLite::Statement q(db_.sql(),
                        "SELECT address, local, domain_id, name, password, quota, enabled FROM users ORDER BY address");
    auto text = [&q](int i, std::string& out) {
      SQLite::Column c = q.getColumn(i);
      out.assign(c.getText(), static_cast<size_t>(c.getBytes()));
    };
    while (q.executeStep()) {
      auto it = domain_index.find(q.getColumn(2).getInt64());
      if (it == domain_index.end()) continue;  // as the JOIN in read_users would
      User& u = snap.users.emplace_back();
      text(0, u.address);
      text(1, u.local);
      u.domain = snap.domains[it->second];
      text(3, u.name);
      text(4, u.password);
      if (!q.getColumn(5).isNull()) u.quota = static_cast<uint64_t>(q.getColumn(5).getInt64());
      u.enabled = q.getColumn(6).getInt() != 0;
    }
    snap.aliases = read_aliases(db_.sql(), std::nullopt);
    snap.alias_domains = read_alias_domains(db_.sql());
    snap.forwards = read_forwards(db_.sql());
    snap.denied = read_access_denials(db_.sql());
    snap.dkim_keys = read_dkim_keys(db_.sql(), std::nullopt);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return snap;
}

}  // namespace vmail
