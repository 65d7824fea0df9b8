// The store's alias domains and forwards (SPEC "Mail policy", `domain alias`
// and `user forward`), kept apart from store.cc: every change here is one
// write transaction that also runs the loop check (core/routing.h).
#include <nlohmann/json.hpp>
#include <optional>

#include "core/routing.h"
#include "core/store.h"
#include "core/store_rows.h"

namespace vmail {

using json = nlohmann::json;
namespace {

std::optional<int64_t> find_domain(SQLite::Database& db, const std::string& domain) {
  SQLite::Statement q(db, "SELECT id FROM domains WHERE name = ?");
  q.bind(1, domain);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getInt64();
}

// The target of the alias domain `domain`; nullopt when it is none.
std::optional<std::string> target_of(SQLite::Database& db, const std::string& domain) {
  SQLite::Statement q(db,
                      "SELECT t.name FROM domains a JOIN alias_domains ad ON ad.domain_id = a.id "
                      "JOIN domains t ON t.id = ad.target_id WHERE a.name = ?");
  q.bind(1, domain);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getString();
}

std::vector<std::string> column_strings(SQLite::Statement& q) {
  std::vector<std::string> out;
  while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  return out;
}

// Refusals of `domain alias add` that concern the existing domain `alias`.
Status check_alias_is_free(SQLite::Database& db, const std::string& alias, int64_t id) {
  if (auto of = target_of(db, alias)) {
    return Status(Code::kBadInput, "alias " + quote(alias) + ": already an alias domain of " + quote(*of));
  }
  if (auto by = alias_domains_of(db, id); !by.empty()) {
    return Status(Code::kBadInput, "alias " + quote(alias) + ": the target of the alias domain " + quote(by.front()));
  }
  SQLite::Statement q(db,
                      "SELECT (SELECT count(*) FROM users WHERE domain_id = ?1), "
                      "(SELECT count(*) FROM aliases WHERE domain_id = ?1)");
  q.bind(1, id);
  q.executeStep();
  if (q.getColumn(0).getInt64() + q.getColumn(1).getInt64() > 0) {
    return Status(Code::kBadInput, "alias " + quote(alias) + ": has " + q.getColumn(0).getString() + " users and " +
                                       q.getColumn(1).getString() + " aliases of its own");
  }
  return Status::Ok();
}

}  // namespace

std::vector<AliasDomain> read_alias_domains(SQLite::Database& db) {
  SQLite::Statement q(db,
                      "SELECT a.name, t.name FROM alias_domains ad JOIN domains a ON a.id = ad.domain_id "
                      "JOIN domains t ON t.id = ad.target_id ORDER BY a.name");
  std::vector<AliasDomain> out;
  while (q.executeStep()) out.push_back(AliasDomain{q.getColumn(0).getString(), q.getColumn(1).getString()});
  return out;
}

std::vector<Forward> read_forwards(SQLite::Database& db) {
  SQLite::Statement q(db,
                      "SELECT u.address, f.keep, fd.destination FROM forwards f JOIN users u ON u.id = f.user_id "
                      "JOIN forward_destinations fd ON fd.user_id = f.user_id "
                      "ORDER BY u.address, fd.position, fd.destination");
  std::vector<Forward> out;
  while (q.executeStep()) {
    std::string address = q.getColumn(0).getString();
    if (out.empty() || out.back().address != address) out.push_back(Forward{address, {}, q.getColumn(1).getInt() != 0});
    out.back().destinations.push_back(q.getColumn(2).getString());
  }
  return out;
}

std::vector<std::string> alias_domains_of(SQLite::Database& db, int64_t target_id) {
  SQLite::Statement q(db,
                      "SELECT a.name FROM alias_domains ad JOIN domains a ON a.id = ad.domain_id "
                      "WHERE ad.target_id = ? ORDER BY a.name");
  q.bind(1, target_id);
  return column_strings(q);
}

Status refuse_alias_domain(SQLite::Database& db, const std::string& domain) {
  auto of = target_of(db, domain);
  if (!of) return Status::Ok();
  return Status(Code::kBadInput,
                "domain " + quote(domain) + ": an alias domain of " + quote(*of) + "; add the address there");
}

Status Store::add_alias_domain(const std::string& alias, const std::string& target, const NewDkimKeys* dkim) {
  return write_with_key_files(dkim, alias, [&](std::vector<std::string>& written) -> Status {
    if (alias == target) return Status(Code::kBadInput, "alias " + quote(alias) + ": the same as its target");
    auto tid = find_domain(db_.sql(), target);
    if (!tid) return Status(Code::kNotFound, "domain " + quote(target) + ": no such domain");
    if (auto of = target_of(db_.sql(), target)) {
      return Status(Code::kBadInput, "target " + quote(target) + ": itself an alias domain of " + quote(*of) +
                                         " (no alias of an alias)");
    }
    auto aid = find_domain(db_.sql(), alias);
    if (aid) {
      if (Status s = check_alias_is_free(db_.sql(), alias, *aid); !s.ok()) return s;
    } else {
      SQLite::Statement ins(db_.sql(), "INSERT INTO domains (name) VALUES (?)");
      ins.bind(1, alias);
      ins.exec();
      aid = db_.sql().getLastInsertRowid();
    }
    SQLite::Statement ins(db_.sql(), "INSERT INTO alias_domains (domain_id, target_id) VALUES (?, ?)");
    ins.bind(1, *aid);
    ins.bind(2, *tid);
    ins.exec();
    // A loop through the new domain passes a destination at it.
    SQLite::Statement at(db_.sql(),
                         "SELECT destination FROM alias_destinations WHERE substr(destination, "
                         "instr(destination, '@') + 1) = ?1 UNION SELECT destination FROM forward_destinations "
                         "WHERE substr(destination, instr(destination, '@') + 1) = ?1");
    at.bind(1, alias);
    if (Status s = check_no_loop(db_.sql(), column_strings(at), "domain alias"); !s.ok()) return s;
    json added{{"alias_of", target}};
    if (dkim) {
      Status s;
      std::vector<DkimKey> retired;
      std::vector<DkimKey> keys = insert_dkim_keys(*aid, alias, *dkim, false, written, s, retired);
      if (!s.ok()) return s;
      if (!keys.empty()) added["dkim"] = dkim_keys_record(keys);
    }
    audit("domain alias add", alias, nullptr, added);
    return Status::Ok();
  });
}

Status Store::delete_alias_domain(const std::string& alias) {
  return db_.write([&]() -> Status {
    if (!target_of(db_.sql(), alias)) {
      return Status(Code::kNotFound, "alias " + quote(alias) + ": no such alias domain");
    }
    auto target = target_of(db_.sql(), alias);
    SQLite::Statement del(db_.sql(), "DELETE FROM domains WHERE name = ?");
    del.bind(1, alias);
    del.exec();
    audit("domain alias del", alias, json{{"alias_of", *target}}, nullptr);
    return Status::Ok();
  });
}

Result<std::vector<AliasDomain>> Store::list_alias_domains() {
  std::vector<AliasDomain> out;
  Status s = db_.read([&]() -> Status {
    out = read_alias_domains(db_.sql());
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

Status Store::set_forward(const std::string& address, const std::vector<std::string>& destinations, bool keep) {
  return db_.write([&]() -> Status {
    auto id = user_id(db_.sql(), address);
    if (!id) return no_user(address);
    SQLite::Statement del(db_.sql(), "DELETE FROM forwards WHERE user_id = ?");
    del.bind(1, *id);
    del.exec();
    SQLite::Statement ins(db_.sql(), "INSERT INTO forwards (user_id, keep) VALUES (?, ?)");
    ins.bind(1, *id);
    ins.bind(2, keep ? 1 : 0);
    ins.exec();
    SQLite::Statement dest(db_.sql(),
                           "INSERT INTO forward_destinations (user_id, destination, position) VALUES (?, ?, ?)");
    int64_t position = 0;
    for (const std::string& d : destinations) {
      dest.reset();
      dest.bind(1, *id);
      dest.bind(2, d);
      dest.bind(3, ++position);
      dest.exec();
    }
    if (Status s = check_no_loop(db_.sql(), {address}, "forward"); !s.ok()) return s;
    audit("user forward", address, nullptr, json{{"destinations", destinations}, {"keep", keep}});
    return Status::Ok();
  });
}

Status Store::clear_forward(const std::string& address) {
  return db_.write([&]() -> Status {
    auto id = user_id(db_.sql(), address);
    if (!id) return no_user(address);
    SQLite::Statement del(db_.sql(), "DELETE FROM forwards WHERE user_id = ?");
    del.bind(1, *id);
    if (del.exec() == 0) return Status(Code::kNotFound, "address " + quote(address) + ": does not forward");
    audit("user forward --off", address, nullptr, json{{"forward", nullptr}});
    return Status::Ok();
  });
}

Result<std::optional<Forward>> Store::get_forward(const std::string& address) {
  std::optional<Forward> out;
  Status s = db_.read([&]() -> Status {
    auto id = user_id(db_.sql(), address);
    if (!id) return no_user(address);
    SQLite::Statement q(db_.sql(),
                        "SELECT f.keep, fd.destination FROM forwards f JOIN forward_destinations fd "
                        "ON fd.user_id = f.user_id WHERE f.user_id = ? ORDER BY fd.position, fd.destination");
    q.bind(1, *id);
    while (q.executeStep()) {
      if (!out) out = Forward{address, {}, q.getColumn(0).getInt() != 0};
      out->destinations.push_back(q.getColumn(1).getString());
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace vmail
