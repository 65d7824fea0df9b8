// DKIM keys in the store: rows in dkim_keys, private keys in files beside
// the database (core/dkim.h says where and who owns them).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/files.h"
#include "core/store.h"
#include "core/store_rows.h"

namespace vmail {
namespace {

using json = nlohmann::json;

// What the audit log keeps of a key: never the private key.
json key_record(const DkimKey& k) {
  return json{{"selector", k.selector},
              {"algorithm", std::string(dkim_algorithm_name(k.algorithm))},
              {"state", std::string(dkim_state_name(k.state))}};
}

}  // namespace

json dkim_keys_record(const std::vector<DkimKey>& keys) {
  json out = json::array();
  for (const DkimKey& k : keys) out.push_back(key_record(k));
  return out;
}

namespace {

std::vector<std::string> selectors_of(const std::vector<DkimKey>& keys) {
  std::vector<std::string> out;
  for (const DkimKey& k : keys) out.push_back(k.selector);
  return out;
}

// Removes the key files (and killed runs' temp files) of the domain's folder
// that no row names. Called inside a write transaction only: no other
// process is then between writing a key file and committing its row.
void sweep_orphan_key_files(const Dir& folder, const std::vector<std::string>& selectors) {
  auto names = folder.entries();
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    size_t at = name.find(".private");
    if (at == std::string::npos || at == 0) continue;
    std::string selector = name.substr(0, at);
    bool temp = is_temp_name(name, selector + ".private");
    bool file = name.substr(at) == ".private";
    if (!temp && !(file && std::find(selectors.begin(), selectors.end(), selector) == selectors.end())) continue;
    (void)folder.remove(name);  // best effort: the next sweep tries again
  }
}

}  // namespace

std::vector<DkimKey> read_dkim_keys(SQLite::Database& db, const std::optional<int64_t>& domain_id) {
  std::string sql =
      "SELECT d.name, k.selector, k.algorithm, k.public_key, k.state, k.created FROM dkim_keys k "
      "JOIN domains d ON d.id = k.domain_id";
  if (domain_id) sql += " WHERE k.domain_id = ?";
  sql += " ORDER BY d.name, k.algorithm = 'rsa', k.created, k.selector";
  SQLite::Statement q(db, sql);
  if (domain_id) q.bind(1, *domain_id);
  std::vector<DkimKey> out;
  while (q.executeStep()) {
    DkimKey& k = out.emplace_back();
    k.domain = q.getColumn(0).getString();
    k.selector = q.getColumn(1).getString();
    k.algorithm = q.getColumn(2).getString() == "ed25519" ? DkimAlgorithm::kEd25519 : DkimAlgorithm::kRsa;
    k.public_key = q.getColumn(3).getString();
    k.state = q.getColumn(4).getString() == "retired" ? DkimState::kRetired : DkimState::kActive;
    k.created = q.getColumn(5).getString();
  }
  return out;
}

std::vector<DkimKey> Store::insert_dkim_keys(int64_t domain_id, const std::string& domain, const NewDkimKeys& dkim,
                                             bool retire, std::vector<std::string>& written, Status& status,
                                             std::vector<DkimKey>& retired) {
  std::vector<DkimKey> existing = read_dkim_keys(db_.sql(), domain_id);
  std::vector<std::string> taken = selectors_of(existing);
  if (auto folder = dkim.files.open_domain(domain, false); folder.ok() && *folder) {
    sweep_orphan_key_files(**folder, taken);
  }
  std::vector<DkimKey> added;
  for (const DkimKeyMaterial& m : dkim.keys) {
    bool has_active = std::any_of(existing.begin(), existing.end(), [&](const DkimKey& k) {
      return k.algorithm == m.algorithm && k.state == DkimState::kActive;
    });
    if (has_active && !retire) continue;
    std::string selector = m.selector.empty() ? dkim_selector_for(dkim.now, taken) : m.selector;
    if (std::find(taken.begin(), taken.end(), selector) != taken.end()) {
      status = Status(Code::kBadInput, "selector " + quote(selector) + ": domain " + quote(domain) + " has it already");
      return {};
    }
    taken.push_back(selector);
    for (const DkimKey& old : existing) {
      if (!retire || old.state != DkimState::kActive || old.algorithm != m.algorithm) continue;
      SQLite::Statement q(db_.sql(), "UPDATE dkim_keys SET state = 'retired' WHERE domain_id = ? AND selector = ?");
      q.bind(1, domain_id);
      q.bind(2, old.selector);
      q.exec();
      retired.push_back(old);
    }
    if (status = dkim.files.write_key(domain, selector, m.private_pem); !status.ok()) return {};
    written.push_back(selector);
    SQLite::Statement ins(db_.sql(),
                          "INSERT INTO dkim_keys (domain_id, selector, algorithm, public_key) VALUES (?, ?, ?, ?)");
    ins.bind(1, domain_id);
    ins.bind(2, selector);
    ins.bind(3, std::string(dkim_algorithm_name(m.algorithm)));
    ins.bind(4, m.public_key);
    ins.exec();
    added.push_back(DkimKey{domain, selector, m.algorithm, m.public_key, DkimState::kActive, ""});
  }
  status = Status::Ok();
  return added;
}

Status Store::write_with_key_files(const NewDkimKeys* dkim, const std::string& domain,
                                   const std::function<Status(std::vector<std::string>& written)>& body) {
  std::vector<std::string> written;
  Status s = db_.write([&]() -> Status { return body(written); });
  if (!s.ok() && dkim) {
    for (const std::string& selector : written) (void)dkim->files.remove_key(domain, selector);  // as above
  }
  return s;
}

Result<std::vector<DkimKey>> Store::add_dkim_keys(const std::string& domain, const NewDkimKeys& dkim, bool retire) {
  std::vector<DkimKey> added;
  Status s = write_with_key_files(&dkim, domain, [&](std::vector<std::string>& written) -> Status {
    auto id = domain_id(db_.sql(), domain);
    if (!id) return no_domain(domain);
    Status status;
    std::vector<DkimKey> retired;
    added = insert_dkim_keys(*id, domain, dkim, retire, written, status, retired);
    if (!status.ok() || added.empty()) return status;
    // One entry for the change: the keys retired (as they were) and added.
    audit("domain dkim", domain, retired.empty() ? json(nullptr) : json{{"dkim", dkim_keys_record(retired)}},
          json{{"dkim", dkim_keys_record(added)}});
    return status;
  });
  if (!s.ok()) return s;
  return added;
}

Result<std::vector<DkimKey>> Store::list_dkim_keys(const std::string& domain) {
  std::vector<DkimKey> out;
  Status s = db_.read([&]() -> Status {
    auto id = domain_id(db_.sql(), domain);
    if (!id) return no_domain(domain);
    out = read_dkim_keys(db_.sql(), id);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

Status Store::remove_dkim_key(const std::string& domain, const std::string& selector, const DkimKeyFiles& files) {
  Status s = db_.write([&]() -> Status {
    auto id = domain_id(db_.sql(), domain);
    if (!id) return no_domain(domain);
    for (const DkimKey& k : read_dkim_keys(db_.sql(), id)) {
      if (k.selector != selector) continue;
      if (k.state == DkimState::kActive && k.algorithm == DkimAlgorithm::kRsa) {
        return Status(Code::kBadInput, "selector " + quote(selector) + ": the active rsa key of " + quote(domain) +
                                           " (rotate it, then remove the retired key)");
      }
      SQLite::Statement del(db_.sql(), "DELETE FROM dkim_keys WHERE domain_id = ? AND selector = ?");
      del.bind(1, *id);
      del.bind(2, selector);
      del.exec();
      audit("domain dkim remove", domain, json{{"dkim", dkim_keys_record({k})}}, nullptr);
      return Status::Ok();
    }
    return Status(Code::kNotFound, "selector " + quote(selector) + ": domain " + quote(domain) + " has no such key");
  });
  // After the commit: a crash before this unlink leaves a file no row names,
  // which the next key change of the domain sweeps.
  if (s.ok()) (void)files.remove_key(domain, selector);
  return s;
}

Status Store::sweep_dkim_files(const DkimKeyFiles& files) {
  return db_.write([&]() -> Status {
    auto top = Dir::open(files.dir);
    if (!top.ok()) return Status::Ok();
    auto names = top->entries();
    if (!names.ok()) return names.status();
    for (const std::string& name : *names) {
      if (name[0] == '.') continue;
      auto folder = top->sub(name);
      if (!folder.ok() || !*folder) continue;  // a symlink or a file: never followed
      auto id = domain_id(db_.sql(), name);
      std::vector<std::string> selectors =
          id ? selectors_of(read_dkim_keys(db_.sql(), id)) : std::vector<std::string>{};
      sweep_orphan_key_files(**folder, selectors);
      if (!id) (void)top->remove_empty_dir(name);  // only when emptied
    }
    return Status::Ok();
  });
}

}  // namespace vmail
