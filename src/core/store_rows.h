// Internal to src/core: the SQL of the store's rows, shared by store.cc,
// store_batch.cc, store_routing.cc, store_dkim.cc and access.cc, so a single
// add and a batch import write a row by the same statement (same triggers,
// same ids). Nothing outside src/core includes this header (sql_text_test.cc
// checks it): other code goes through Store and Database.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/store.h"

namespace vmail {

// A new user row: bind_new_user binds its 7 parameters.
extern const char* const kInsertUser;
void bind_new_user(SQLite::Statement& q, int64_t domain_id, const User& user);
// What every change of a user row sets besides its own columns.
extern const char* const kTouchUpdated;
// A new alias row (domain_id, source), its destinations (alias_id, position,
// destination), and the last position taken (alias_id).
extern const char* const kInsertAlias;
extern const char* const kInsertDestination;
extern const char* const kLastDestinationPosition;
// Lookups by name (one parameter each): a domain's id, 1 for an existing
// user, an alias's id; and 1 when the alias (1) has the destination (2).
extern const char* const kDomainIdByName;
extern const char* const kUserExists;
extern const char* const kAliasIdBySource;
extern const char* const kAliasHasDestination;

// Row readers; `q` selects the columns of kUserColumns in order.
extern const char* const kUserColumns;
User read_user_row(SQLite::Statement& q);
// Every access denial, by service then address (access.cc).
std::vector<AccessDenial> read_access_denials(SQLite::Database& db);

// Alias domains and forwards (store_routing.cc), inside the caller's
// transaction. Every alias domain or forward, sorted by alias or address:
std::vector<AliasDomain> read_alias_domains(SQLite::Database& db);
std::vector<Forward> read_forwards(SQLite::Database& db);
// The alias domains whose target is `target_id`, by name.
std::vector<std::string> alias_domains_of(SQLite::Database& db, int64_t target_id);
// The id of the domain (nullopt: none), and the 67 for a missing one.
std::optional<int64_t> domain_id(SQLite::Database& db, const std::string& domain);
Status no_domain(const std::string& domain);
// The same for a user, by address (store.cc).
std::optional<int64_t> user_id(SQLite::Database& db, const std::string& address);
Status no_user(const std::string& address);
// What the audit log keeps of keys: selector, algorithm, state (store_dkim.cc).
nlohmann::json dkim_keys_record(const std::vector<DkimKey>& keys);
// Every DKIM key, in Snapshot::dkim_keys order (store_dkim.cc).
std::vector<DkimKey> read_dkim_keys(SQLite::Database& db, const std::optional<int64_t>& domain_id);
// 65 when `domain` is an alias domain: it has no addresses of its own.
Status refuse_alias_domain(SQLite::Database& db, const std::string& domain);

}  // namespace vmail
