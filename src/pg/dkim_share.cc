#include "pg/dkim_share.h"

#include <spdlog/spdlog.h>

#include <set>
#include <utility>
#include <vector>

#include "core/files.h"

namespace vmail::pg {
namespace {

// (domain, selector) of every key of the replica. The rows came from the
// shared store, which another node (or whoever holds the PostgreSQL role)
// wrote: a pair that is not a safe domain and selector never becomes a path
// here; it is left out with one log line.
std::vector<std::pair<std::string, std::string>> replica_keys(Database& replica) {
  std::vector<std::pair<std::string, std::string>> keys;
  SQLite::Statement q(replica.sql(),
                      "SELECT d.name, k.selector FROM dkim_keys k JOIN domains d ON d.id = k.domain_id ORDER BY 1, 2");
  while (q.executeStep()) {
    std::string domain = q.getColumn(0).getString(), selector = q.getColumn(1).getString();
    if (!dkim_key_names_safe(domain, selector)) {
      spdlog::warn("DKIM key {}/{} in the shared store: not a safe domain and selector; skipped", quote(domain),
                   quote(selector));
      continue;
    }
    keys.emplace_back(std::move(domain), std::move(selector));
  }
  return keys;
}

}  // namespace

Result<DkimShare> upload_dkim_keys(Connection& conn, Database& replica, const DkimKeyFiles& files) {
  DkimShare share;
  try {
    auto have = conn.query("SELECT domain || ' ' || selector FROM vmail_dkim_private");
    if (!have.ok()) return have.status();
    std::set<std::string> upstream;
    for (int r = 0; r < have->size(); ++r) upstream.insert(have->text(r, 0));
    for (const auto& [domain, selector] : replica_keys(replica)) {
      if (upstream.count(domain + " " + selector)) continue;
      auto pem = files.read_key(domain, selector);
      if (!pem.ok() && pem.status().code() == Code::kBadInput) return Status(Code::kConfig, pem.status().message());
      if (!pem.ok()) return pem.status();
      if (!*pem) {
        ++share.missing;
        continue;
      }
      auto r = conn.query("INSERT INTO vmail_dkim_private (domain, selector, private_key) VALUES ($1, $2, $3)",
                          {domain, selector, **pem});
      if (!r.ok()) return r.status();
      ++share.uploaded;
    }
  } catch (const std::exception& e) {
    return sqlite_status(e, replica.path());
  }
  // The keys of the shared tables as they are now, in this transaction.
  auto gone = conn.query(
      "DELETE FROM vmail_dkim_private p WHERE NOT EXISTS (SELECT 1 FROM dkim_keys k JOIN domains d ON "
      "d.id = k.domain_id WHERE d.name = p.domain AND k.selector = p.selector)");
  if (!gone.ok()) return gone.status();
  return share;
}

Result<DkimShare> fetch_dkim_keys(Connection& conn, Database& replica, const DkimKeyFiles& files) {
  DkimShare share;
  std::vector<std::pair<std::string, std::string>> missing;
  try {
    for (auto& key : replica_keys(replica)) {
      if (!files.has_key(key.first, key.second)) missing.push_back(std::move(key));
    }
  } catch (const std::exception& e) {
    return sqlite_status(e, replica.path());
  }
  for (const auto& [domain, selector] : missing) {
    auto row = conn.query("SELECT private_key FROM vmail_dkim_private WHERE domain = $1 AND selector = $2",
                          {domain, selector});
    if (!row.ok()) return row.status();
    if (row->size() == 0) {
      ++share.missing;
      continue;
    }
    if (Status s = files.write_key(domain, selector, row->text(0, 0)); !s.ok()) return s;
    ++share.written;
  }
  return share;
}

}  // namespace vmail::pg
