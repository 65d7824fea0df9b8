// OpenDKIM's tables (issue 13 contract), both in $VMAIL_OPENDKIM_DIR, 0644,
// one line per active key (retired keys are listed in DNS but no longer sign):
//
//   KeyTable      `<selector>._domainkey.<domain> <domain>:<selector>:<key file>`
//   SigningTable  `*@<domain> <selector>._domainkey.<domain>` (refile: syntax),
//                 a domain's ed25519 key before its rsa key.
//
// Both are always written, empty when there is no key. A row whose domain or
// selector is not a clean name (a hand-edited database) is left out with a
// warning: it would break the line format. Pure and thread-safe.
#pragma once

#include <functional>
#include <string>

#include "core/settings.h"
#include "core/store.h"

namespace vmail {

using DkimWarn = std::function<void(const std::string&)>;
std::string render_key_table(const Snapshot& snapshot, const Settings& settings, const DkimWarn& warn = {});
std::string render_signing_table(const Snapshot& snapshot, const DkimWarn& warn = {});

}  // namespace vmail
