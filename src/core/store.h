// The store: domains, mailboxes and aliases in the database.
//
// Every mutating call is one BEGIN IMMEDIATE transaction: it commits whole or
// not at all, together with its audit log entry (audit.h) naming the Actor the
// Store was made with. Inputs are expected to be validated already (validate.h); the
// store checks existence and conflicts and reports them as kNotFound (67) or
// kBadInput (65) with a message naming the thing.
//
// A Store borrows its Database and is used by one thread at a time.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/audit.h"
#include "core/database.h"
#include "core/status.h"
#include "core/validate.h"

namespace vmail {

struct DomainInfo {
  std::string name;
  int64_t users = 0;
  int64_t aliases = 0;
};

struct User {
  std::string address;
  std::string local;
  std::string domain;
  std::string name;
  std::string password;  // {SCHEME}hash
  std::optional<uint64_t> quota;
  bool enabled = true;
  std::string created;
  std::string updated;
};

struct Alias {
  std::string source;  // local@domain or @domain
  std::string domain;
  std::vector<std::string> destinations;
};

// What exporters read: everything, in a deterministic order (users by
// address, aliases by source, domains by name). Users' created/updated times
// are left empty.
struct Snapshot {
  std::vector<std::string> domains;
  std::vector<User> users;
  std::vector<Alias> aliases;
};

class Store {
 public:
  // `actor` is who every change made through this Store is recorded as.
  explicit Store(Database& db, Actor actor = {}) : db_(db), actor_(std::move(actor)) {}

  Status add_domain(const std::string& domain);
  // Refuses (65) while the domain has users or aliases, unless `force`; with
  // force, its users and aliases go too and are returned in *removed_users.
  Status delete_domain(const std::string& domain, bool force, std::vector<User>* removed_users);
  Result<std::vector<DomainInfo>> list_domains();
  Result<bool> domain_exists(const std::string& domain);

  // Adds a mailbox. `in_transaction` runs after the insert and before the
  // commit (used to create the maildir); its failure rolls the insert back.
  Status add_user(const User& user, const std::function<Status(const User&)>& in_transaction = {});
  Status delete_user(const std::string& address, User* removed);
  Status set_password(const std::string& address, const std::string& hash);
  Status set_enabled(const std::string& address, bool enabled);
  Status set_quota(const std::string& address, std::optional<uint64_t> quota);
  Result<User> get_user(const std::string& address);
  // All users, or those of one domain (67 when that domain does not exist).
  Result<std::vector<User>> list_users(const std::optional<std::string>& domain);

  // Adds destinations to the alias `source` (created when missing). A
  // destination already present is a conflict (65).
  Status add_alias(const Address& source, const std::vector<std::string>& destinations);
  // Removes one destination, or the whole alias when `destination` is empty.
  // The alias goes when its last destination does.
  Status delete_alias(const std::string& source, const std::optional<std::string>& destination);
  Result<std::vector<Alias>> list_aliases(const std::optional<std::string>& domain);

  // One consistent read of everything, for the exporters.
  Result<Snapshot> snapshot();

  Database& db() { return db_; }

 private:
  // Records one change in the audit log inside the open write transaction:
  // the one line each mutating method adds. Never pass a password or hash.
  void audit(std::string_view action, std::string_view object, const nlohmann::json& old_value,
             const nlohmann::json& new_value);

  Database& db_;
  Actor actor_;
};

// Row readers shared by the store and batch import; `q` selects the columns
// of kUserColumns in order.
extern const char* const kUserColumns;
User read_user_row(SQLite::Statement& q);

}  // namespace vmail
