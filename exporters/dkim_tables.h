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

// `usable` (when set) leaves out a key it returns false for: with a shared
// PostgreSQL store a key's private file exists only on the node that made
// it, and OpenDKIM on another node would fail on a KeyTable line naming a
// missing file.
using DkimWarn = std::function<void(const std::string&)>;
using DkimUsable = std::function<bool(const DkimKey&)>;
std::string render_key_table(const Snapshot& snapshot, const Settings& settings, const DkimWarn& warn = {},
                             const DkimUsable& usable = {});
std::string render_signing_table(const Snapshot& snapshot, const DkimWarn& warn = {}, const DkimUsable& usable = {});

}  // namespace vmail
