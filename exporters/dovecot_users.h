// Dovecot passwd-file (`$VMAIL_DOVECOT_DIR/users`).
//
// Line: `address:{SCHEME}hash:uid:gid::home::extra`, home =
// `<mail dir>/<domain>/<local>`. Extra fields: `nologin allow_nets=0.0.0.0/32` for a disabled user
// (it cannot log in but still receives: LMTP uses the userdb side), and
// `userdb_quota_rule=*:bytes=N` for a quota. Pure and thread-safe.
#pragma once

#include <functional>
#include <string>

#include "settings.h"
#include "store.h"

namespace vmail {

// Renders the file. Rows that could corrupt a line (read back from the
// database, so untrusted) are left out and reported through `skipped`.
std::string render_dovecot_users(const Snapshot& snapshot, const Settings& settings,
                                 const std::function<void(const std::string& why)>& skipped = {});

// One user's line without the trailing newline, or "" when the row is unsafe.
std::string dovecot_user_line(const User& user, const Settings& settings, std::string* why = nullptr);

}  // namespace vmail
