// Dovecot passwd-file (`$VMAIL_DOVECOT_DIR/users`).
//
// Line: `address:{SCHEME}hash:uid:gid::home::extra`, home =
// `<mail dir>/<domain>/<local>`. Extra fields: `nologin allow_nets=0.0.0.0/32` for a disabled user
// (it cannot log in but still receives: LMTP uses the userdb side), and
// `userdb_quota_rule=*:bytes=N` for a quota. Pure and thread-safe.
#pragma once

#include <functional>
#include <string>

#include "core/settings.h"
#include "core/store.h"
#include "exporters/checked_rows.h"
#include "exporters/postfix_maps.h"
#include "exporters/routes.h"

namespace vmail {

// Renders the file from checked rows: users whose hash is not valid are left out.
std::string render_dovecot_users(const CheckedRows& rows, const Settings& settings);

// Convenience: checks `snapshot` first; rows that could corrupt a line (read
// back from the database, so untrusted) are left out and reported.
std::string render_dovecot_users(const Snapshot& snapshot, const Settings& settings, const SkipReporter& skipped = {});

// `$VMAIL_DOVECOT_DIR/alias-quotas`: a userdb that only Dovecot's
// quota-status service reads (dovecot.conf), so that Postfix's RCPT-time
// quota check of an address that is not a mailbox is answered for the
// mailbox it reaches. One line for each virtual key other than a mailbox
// (alias, address at an alias domain) whose mail reaches exactly one mailbox
// (exporters/routes.h), when that mailbox has a quota:
// `key::uid:gid::home-of-the-mailbox::userdb_quota_rule=*:bytes=N`. No
// password field: it is never a passdb, so no one logs in with these names.
std::string render_alias_quotas(const VirtualMap& map, Routes& routes, const Settings& settings);

// Convenience: builds the virtual map and routes of `rows` first.
std::string render_alias_quotas(const CheckedRows& rows, const Settings& settings);

// One user's line without the trailing newline, or "" when the row is unsafe.
std::string dovecot_user_line(const User& user, const Settings& settings, std::string* why = nullptr);

}  // namespace vmail
