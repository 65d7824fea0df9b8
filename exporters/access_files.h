// Per-service access (`vmail user access`) as files the daemons read, so a
// change is enforced without a restart:
//
//   $VMAIL_DOVECOT_DIR/deny-<service>  one address per line: a passwd-file
//       that Dovecot's `deny = yes` passdb reads as `deny-%s` (%s = imap, pop3,
//       sieve, smtp; Postfix's SASL asks with service=smtp). Every file is
//       always written, empty when nobody is denied, since Dovecot fails
//       authentication when a passdb file is missing.
//   $VMAIL_POSTFIX_DIR/recipient_access  `address 550 5.7.1 ...` for each
//       mailbox with receive=off (check_recipient_access, refused at RCPT).
//
// Only addresses of checked (safe) users are written. Pure and thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/store.h"
#include "exporters/checked_rows.h"

namespace vmail {

// (Dovecot's service name, the access switch behind it): imap, pop3, sieve
// and smtp (= send).
extern const std::vector<std::pair<std::string, std::string>> kDovecotDenyFiles;

// The `deny-<dovecot service>` file for the access switch `switch_name`.
std::string render_deny_file(const Snapshot& snapshot, const CheckedRows& rows, const std::string& switch_name);

// The recipient_access map: mailboxes with receive=off.
std::string render_recipient_access(const Snapshot& snapshot, const CheckedRows& rows);

}  // namespace vmail
