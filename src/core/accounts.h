// Looking up system users and groups (the vmail account, postfix, dovecot)
// with the reentrant NSS calls. Thread-safe; nothing here changes the system.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace vmail {

struct UserIds {
  uid_t uid = 0;
  gid_t gid = 0;  // the user's primary group
};

// The user called `name`, or nullopt when there is none (or NSS fails).
std::optional<UserIds> user_by_name(const std::string& name);

// True when a user with this uid exists.
bool user_exists(uid_t uid);

// The gid of the group called `name`, or nullopt when there is none.
std::optional<gid_t> group_by_name(const std::string& name);

// True when a group with this gid exists.
bool group_exists(gid_t gid);

}  // namespace vmail
