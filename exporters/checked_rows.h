// The rows of a snapshot that are safe to write into an exported file,
// checked once per export and shared by every renderer.
//
// Values read back from the database are untrusted: a row that could add a
// line or a field to a file is left out and reported. Addresses, alias
// sources, destinations and domains follow core/row_policy.h, the policy the
// NSS lookups share (an alias keeps its safe destinations); hashes must pass
// check_hash (only the Dovecot users file carries them).
//
// A CheckedRows points into its snapshot, which must outlive it.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/store.h"

namespace vmail {

using SkipReporter = std::function<void(const std::string& why)>;

struct CheckedUser {
  const User* user;
  bool hash_ok;  // false: receives mail, but is left out of the Dovecot users file
};

struct CheckedAlias {
  const Alias* alias;
  std::vector<std::string_view> destinations;  // the safe ones, in stored order; may be empty
};

struct CheckedForward {
  const Forward* forward;
  std::vector<std::string_view> destinations;  // the safe ones, in stored order; never empty
};

struct CheckedRows {
  std::vector<CheckedUser> users;                 // by address, no address twice
  std::vector<CheckedAlias> aliases;              // by source
  std::vector<std::string_view> domains;          // sorted, unique
  std::vector<const AliasDomain*> alias_domains;  // both names safe, by alias
  std::vector<CheckedForward> forwards;           // of safe addresses, by address
  std::vector<std::string_view> receive_off;      // checked users with receive=off (`user access`), sorted
};

// Checks every row once. Reports each unsafe value through `skipped`.
CheckedRows check_rows(const Snapshot& snapshot, const SkipReporter& skipped = {});

}  // namespace vmail
