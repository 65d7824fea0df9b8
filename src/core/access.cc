// Per-service access (`vmail user access`): the store side. A row in
// user_access_denied turns one service off for one mailbox; no row = on.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/store.h"
#include "core/store_rows.h"

namespace vmail {

using json = nlohmann::json;

const std::vector<std::string> kAccessServices = {"imap", "pop3", "sieve", "send", "receive"};

std::vector<AccessDenial> read_access_denials(SQLite::Database& db) {
  SQLite::Statement q(db,
                      "SELECT u.address, a.service FROM user_access_denied a JOIN users u ON u.id = a.user_id "
                      "ORDER BY a.service, u.address");
  std::vector<AccessDenial> out;
  while (q.executeStep()) out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString()});
  return out;
}

Result<std::vector<std::string>> Store::denied_services(const std::string& address) {
  std::vector<std::string> out;
  Status s = db_.read([&]() -> Status {
    auto id = user_id(db_.sql(), address);
    if (!id) return no_user(address);
    SQLite::Statement q(db_.sql(), "SELECT service FROM user_access_denied WHERE user_id = ?");
    q.bind(1, *id);
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
    return Status::Ok();
  });
  if (!s.ok()) return s;
  // In kAccessServices order, whatever the table's.
  std::vector<std::string> ordered;
  for (const auto& service : kAccessServices) {
    if (std::find(out.begin(), out.end(), service) != out.end()) ordered.push_back(service);
  }
  return ordered;
}

Status Store::set_access(const std::string& address, const std::vector<std::pair<std::string, bool>>& changes) {
  return db_.write([&]() -> Status {
    auto id = user_id(db_.sql(), address);
    if (!id) return no_user(address);
    SQLite::Statement on(db_.sql(), "DELETE FROM user_access_denied WHERE user_id = ? AND service = ?");
    SQLite::Statement off(db_.sql(), "INSERT OR IGNORE INTO user_access_denied (user_id, service) VALUES (?, ?)");
    for (const auto& [service, enabled] : changes) {
      SQLite::Statement& q = enabled ? on : off;
      q.reset();
      q.bind(1, *id);
      q.bind(2, service);
      q.exec();
    }
    json changed = json::object();
    for (const auto& [service, enabled] : changes) changed[service] = enabled;
    audit("user access", address, nullptr, changed);
    return Status::Ok();
  });
}

}  // namespace vmail
