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
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/audit.h"
#include "core/database.h"
#include "core/dkim.h"
#include "core/status.h"
#include "core/validate.h"

namespace vmail {

struct DomainInfo {
  std::string name;
  int64_t users = 0;
  int64_t aliases = 0;
  std::optional<std::string> alias_of;  // set for an alias domain: its target
};

// An alias domain: every address of `target` answers at `alias`.
struct AliasDomain {
  std::string alias;
  std::string target;
};

// A mailbox that forwards its mail; with `keep` a copy stays in the mailbox.
struct Forward {
  std::string address;
  std::vector<std::string> destinations;
  bool keep = false;
};

struct User {
  std::string address;
  std::string local;
  std::string domain;
  std::string name;
  std::string password;  // {SCHEME}hash
  std::optional<uint64_t> quota;
  bool enabled = true;
  // Recipients per hour (`vmail user limit`): nullopt = VMAIL_SEND_LIMIT,
  // 0 = no limit.
  std::optional<int64_t> send_limit;
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
  std::vector<AliasDomain> alias_domains;  // by alias
  std::vector<Forward> forwards;           // by address
  std::vector<AccessDenial> denied;        // by service, then address
  std::vector<DkimKey> dkim_keys;          // by domain, then ed25519 before rsa, then selector
};

class StoreBatch;

class Store {
 public:
  // `actor` is who every change made through this Store is recorded as.
  explicit Store(Database& db, Actor actor = {}) : db_(db), actor_(std::move(actor)) {}

  // With `dkim`, its keys are added in the same transaction (add_dkim_keys).
  Status add_domain(const std::string& domain, const NewDkimKeys* dkim = nullptr);
  // Refuses (65) while the domain has users or aliases, unless `force`; with
  // force, its users and aliases go too and are returned in *removed_users.
  Status delete_domain(const std::string& domain, bool force, std::vector<User>* removed_users);
  Result<std::vector<DomainInfo>> list_domains();
  Result<bool> domain_exists(const std::string& domain);

  // Adds a mailbox. `in_transaction` runs after the insert and before the
  // commit (used to create the maildir); its failure rolls the insert back.
  Status add_user(const User& user, const std::function<Status(const User&)>& in_transaction = {});
  // What add_user would refuse before it writes, read without a write
  // transaction (so `user add` says so before asking for a password): 67 for
  // no such domain, 65 for an alias domain, an existing user or alias source.
  Status check_new_user(const Address& address);
  Status delete_user(const std::string& address, User* removed);
  Status set_password(const std::string& address, const std::string& hash);
  Status set_enabled(const std::string& address, bool enabled);
  Status set_quota(const std::string& address, std::optional<uint64_t> quota);
  // Sets the recipients-per-hour limit (nullopt: the server's default, 0:
  // none); 65 for a negative one, 67 when no such user. Audited.
  Status set_send_limit(const std::string& address, std::optional<int64_t> per_hour);
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

  // Makes `alias` an alias domain of `target` (creating the domain `alias`
  // when missing). 67 when target does not exist; 65 when alias is target,
  // already an alias domain, has users or aliases, or is itself a target, or
  // when target is an alias domain (no alias of an alias), or when the change
  // would close a mail loop.
  // With `dkim`, the alias domain gets those keys of an algorithm it has no
  // active key of yet (an alias domain is its own DNS zone and DKIM d=).
  Status add_alias_domain(const std::string& alias, const std::string& target, const NewDkimKeys* dkim = nullptr);
  // Removes the alias domain (the domain itself goes with it); 67 when
  // `alias` is not an alias domain.
  Status delete_alias_domain(const std::string& alias);
  Result<std::vector<AliasDomain>> list_alias_domains();

  // Makes the mailbox forward to `destinations` (replacing an earlier
  // forward); 67 for no such user, 65 when the change would close a loop.
  Status set_forward(const std::string& address, const std::vector<std::string>& destinations, bool keep);
  // Stops forwarding; 67 when the user does not exist or does not forward.
  Status clear_forward(const std::string& address);
  // The mailbox's forward, nullopt when it does not forward (67: no such user).
  Result<std::optional<Forward>> get_forward(const std::string& address);
  // The services (of kAccessServices) the mailbox may not use; 67 when no
  // such user. Defined in access.cc.
  Result<std::vector<std::string>> denied_services(const std::string& address);
  // Turns each named service on (true) or off; one transaction, 67 when no
  // such user. Services must come from kAccessServices.
  Status set_access(const std::string& address, const std::vector<std::pair<std::string, bool>>& changes);
  // Records a change of the mailbox's vacation reply. The reply lives as a
  // Sieve file in the mailbox's home (vacation.h), not in the database:
  // `apply` changes that file inside this write transaction and sets the
  // settings as they were and as they are now (JSON, null for off). An
  // `apply` that fails rolls back and leaves no entry; when both values are
  // null nothing changed and no entry is made. 67 when no such user.
  Status record_vacation(const std::string& address,
                         const std::function<Status(nlohmann::json& old_value, nlohmann::json& new_value)>& apply);

  // DKIM keys (store_dkim.cc). Adds `dkim.keys` to the domain (67: no such
  // domain). One write transaction: first the domain's key files that have
  // no row are removed (left by a run that died between its file and its
  // commit: every key file is written inside the transaction that inserts
  // its row, so none is in flight meanwhile); then per key the selector is
  // chosen (given: 65 when the domain has it already; "": the date rule),
  // with `retire` the domain's active key of that algorithm becomes retired,
  // the private key file is written atomically (fsynced) and the row
  // inserted. Files written by a transaction that does not commit are
  // removed. Returns the keys added. The audit log never sees a private key.
  Result<std::vector<DkimKey>> add_dkim_keys(const std::string& domain, const NewDkimKeys& dkim, bool retire);
  // The domain's keys, oldest first (67: no such domain).
  Result<std::vector<DkimKey>> list_dkim_keys(const std::string& domain);
  // Deletes the key `selector` of the domain and, once committed, its file.
  // 67 for no such domain or selector; 65 for the active rsa key (rotate
  // it instead: every domain keeps one).
  Status remove_dkim_key(const std::string& domain, const std::string& selector, const DkimKeyFiles& files);
  // Removes, inside a write transaction, the key files no row names: those
  // of deleted domains (with their folders) and leftovers of killed runs.
  Status sweep_dkim_files(const DkimKeyFiles& files);

  // Records a change kept outside this database (a login ban in the node's
  // policy.db) in the audit log, in a transaction of its own.
  Status audit_outside_change(std::string_view action, std::string_view object, const nlohmann::json& old_value,
                              const nlohmann::json& new_value);
  // One consistent read of everything, for the exporters.
  Result<Snapshot> snapshot();

  // Batch import (store_batch.cc): `body` gets a StoreBatch over one
  // transaction, a read transaction (write_batch: one BEGIN IMMEDIATE write
  // transaction, committed when `body` returns ok, rolled back otherwise).
  Status read_batch(const std::function<Status(StoreBatch&)>& body);
  Status write_batch(const std::function<Status(StoreBatch&)>& body);

  Database& db() { return db_; }

 private:
  // Records one change in the audit log inside the open write transaction:
  // the one line each mutating method adds. Never pass a password or hash.
  void audit(std::string_view action, std::string_view object, const nlohmann::json& old_value,
             const nlohmann::json& new_value);

  // add_dkim_keys' work inside an open write transaction, without an audit
  // entry (the caller records the change once); `written` collects the
  // selectors whose key files it wrote, `retired` the keys it retired (as they were). Only keys
  // of an algorithm the domain has no active key of are added unless `retire`.
  std::vector<DkimKey> insert_dkim_keys(int64_t domain_id, const std::string& domain, const NewDkimKeys& dkim,
                                        bool retire, std::vector<std::string>& written, Status& status,
                                        std::vector<DkimKey>& retired);
  // db_.write(body) for a change that may write key files of `dkim`: those
  // it wrote (the selectors listed in `written`, of the domain `domain`) are
  // removed again unless it commits.
  Status write_with_key_files(const NewDkimKeys* dkim, const std::string& domain,
                              const std::function<Status(std::vector<std::string>& written)>& body);

  friend class StoreBatch;

  Database& db_;
  Actor actor_;
};

// Many rows in the one transaction of Store::read_batch or write_batch: the
// lookups and writes of the single commands, by the same statements (so the
// same triggers fire and the same ids are taken), each prepared once per
// batch. It checks nothing on its own: the caller looks up first (as the
// single commands do) and writes only what it found allowed; a trigger or
// constraint that still refuses a row throws, which rolls the batch back.
// Valid only inside the body it was passed to.
class StoreBatch {
 public:
  StoreBatch(const StoreBatch&) = delete;
  StoreBatch& operator=(const StoreBatch&) = delete;
  ~StoreBatch();

  // The id of the domain rows may be added to, or why not: "no such domain"
  // (67), or an alias domain (65; its addresses live at its target). Cached.
  Result<int64_t> domain_id(const std::string& name);
  bool user_exists(const std::string& address);
  std::optional<int64_t> alias_id(const std::string& source);
  bool has_destination(int64_t alias_id, const std::string& destination);

  // Inserts the user as add_user does.
  void add_user(int64_t domain_id, const User& user);
  // Sets the existing user's password, and its name, quota and enabled where
  // asked (a file without those columns keeps them), and its update time.
  struct UserFields {
    bool name = false, quota = false, enabled = false;
  };
  void update_user(const User& user, UserFields fields);
  // Appends `destinations` to the alias `source` as add_alias does, creating
  // it (of `domain_id`) when `existing` is nullopt.
  void add_alias(int64_t domain_id, const std::string& source, std::optional<int64_t> existing,
                 const std::vector<std::string>& destinations);
  // The routing stored so far, rows of this batch included (routing.h).
  std::vector<std::string> stored_hops(const std::string& address);
  // One audit log entry in this transaction, as the Store's actor.
  void audit(std::string_view action, std::string_view object, const nlohmann::json& old_value,
             const nlohmann::json& new_value);

 private:
  friend class Store;
  explicit StoreBatch(Store& store);
  struct Statements;

  Store& store_;
  std::unique_ptr<Statements> q_;
};

}  // namespace vmail
