// The store: domains, mailboxes and aliases in the database.
//
// Every mutating call is one BEGIN IMMEDIATE transaction: it commits whole or
// not at all. Inputs are expected to be validated already (validate.h); the
// store checks existence and conflicts and reports them as kNotFound (67) or
// kBadInput (65) with a message naming the thing.
//
// A Store borrows its Database and is used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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

// Per-service access (`vmail user access`, access.cc): the services a mailbox
// can be refused, in this order.
extern const std::vector<std::string> kAccessServices;  // imap pop3 sieve send receive
struct AccessDenial {
  std::string address;
  std::string service;  // one of kAccessServices
};

// What exporters read: everything, in a deterministic order (users by
// address, aliases by source, domains by name). Users' created/updated times
// are left empty.
struct Snapshot {
  std::vector<std::string> domains;
  std::vector<User> users;
  std::vector<Alias> aliases;
  std::vector<AccessDenial> denied;  // by service, then address
};

class Store {
 public:
  explicit Store(Database& db) : db_(db) {}

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

  // The services (of kAccessServices) the mailbox may not use; 67 when no
  // such user. Defined in access.cc.
  Result<std::vector<std::string>> denied_services(const std::string& address);
  // Turns each named service on (true) or off; one transaction, 67 when no
  // such user. Services must come from kAccessServices.
  Status set_access(const std::string& address, const std::vector<std::pair<std::string, bool>>& changes);

  // One consistent read of everything, for the exporters.
  Result<Snapshot> snapshot();

  Database& db() { return db_; }

 private:
  Database& db_;
};

// Row readers shared by the store and batch import; `q` selects the columns
// of kUserColumns in order.
extern const char* const kUserColumns;
User read_user_row(SQLite::Statement& q);
// Every access denial, by service then address (access.cc).
std::vector<AccessDenial> read_access_denials(SQLite::Database& db);

}  // namespace vmail
