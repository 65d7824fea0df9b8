// Per-service access (`vmail user access`) as files the daemons read, so a
// change is enforced without a restart:
//
//   $VMAIL_DOVECOT_DIR/deny-<service>  one address per line: a passwd-file
//       that Dovecot's `deny = yes` passdb reads as `deny-%s` (%s = imap, pop3,
//       sieve, smtp; Postfix's SASL asks with service=smtp). Every file is
//       always written, empty when nobody is denied, since Dovecot fails
//       authentication when a passdb file is missing.
//   $VMAIL_POSTFIX_DIR/recipient_access  `address 550 5.7.1 ...` for each
//       address whose mail would reach only mailboxes with receive=off
//       (check_recipient_access, refused at RCPT): the mailbox itself, its
//       aliases, its addresses at alias domains (exporters/routes.h). A
//       catch-all that reaches only such mailboxes refuses its whole domain
//       (`domain 550 ...`), and every other address the domain lists gets
//       `address DUNNO`, which stops Postfix before the domain key and goes
//       on to the next restriction (never OK: the quota check must follow).
//
// Only addresses of checked (safe) users are written. Pure and thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/store.h"
#include "exporters/checked_rows.h"
#include "exporters/postfix_maps.h"
#include "exporters/routes.h"

namespace vmail {

// (Dovecot's service name, the access switch behind it): imap, pop3, sieve
// and smtp (= send).
extern const std::vector<std::pair<std::string, std::string>> kDovecotDenyFiles;

// The `deny-<dovecot service>` file for the access switch `switch_name`.
std::string render_deny_file(const Snapshot& snapshot, const CheckedRows& rows, const std::string& switch_name);

// The recipient_access map from the virtual map and its routes.
std::string render_recipient_access(const VirtualMap& map, Routes& routes);

// Convenience: builds the virtual map and routes of `rows` first.
std::string render_recipient_access(const CheckedRows& rows);

}  // namespace vmail
