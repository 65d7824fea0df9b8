// Postfix lookup tables rendered from a snapshot. Each map is `key value`
// lines, sorted by key, keys lowercase. Pure and thread-safe.
//
//   vmailbox       address -> domain/local/Maildir/   (virtual_mailbox_maps)
//   virtual        source  -> dest[,dest]             (virtual_alias_maps);
//                  every mailbox maps to itself so a catch-all never takes it;
//                  a destination whose mail would reach only receive=off
//                  mailboxes is left out (exporters/routes.h), unless the
//                  source has no other (then recipient_access refuses it)
//   vdomains       domain  -> OK                      (virtual_mailbox_domains)
//   sender_logins  address -> logins allowed to send as it
//                  (smtpd_sender_login_maps): a mailbox owns itself, an alias
//                  is owned by its destinations that are local mailboxes
//   hosted_senders domain  -> REJECT 5.7.1 ...       (check_sender_access on
//                  port 25): every hosted domain and alias domain, so a
//                  client neither authenticated nor in mynetworks cannot use
//                  any sender address there
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/store.h"
#include "exporters/checked_rows.h"

namespace vmail {

class Routes;

// One map line: its key and its value (for virtual, destinations joined by ',').
struct MapLine {
  std::string_view key;
  std::string_view value;
};

// The virtual map before receive=off is applied: lines sorted by key, no key
// twice (a mailbox wins over an alias of the same address; the alias is
// reported). The lines point into the CheckedRows and into `owned`.
struct VirtualMap {
  std::deque<std::string> owned;
  std::vector<MapLine> lines;
};
VirtualMap build_virtual_map(const CheckedRows& rows, const SkipReporter& skipped = {});

// The virtual map as written: `routes` (built on `map`) says which
// destinations only reach receive=off mailboxes.
std::string render_virtual(const VirtualMap& map, Routes& routes);

// From rows checked once (an export renders every file from one CheckedRows).
std::string render_vmailbox(const CheckedRows& rows);
std::string render_virtual(const CheckedRows& rows, const SkipReporter& skipped = {});
std::string render_vdomains(const CheckedRows& rows);
std::string render_sender_logins(const CheckedRows& rows);
std::string render_hosted_senders(const CheckedRows& rows);

// Convenience: checks `snapshot` and renders one file, reporting left-out rows.
std::string render_vmailbox(const Snapshot& snapshot, const SkipReporter& skipped = {});
std::string render_virtual(const Snapshot& snapshot, const SkipReporter& skipped = {});
std::string render_vdomains(const Snapshot& snapshot, const SkipReporter& skipped = {});
std::string render_sender_logins(const Snapshot& snapshot, const SkipReporter& skipped = {});

// The file postmap makes from `source` for a map type: source.db (hash),
// source.lmdb (lmdb), source.cdb (cdb).
std::string map_database_path(const std::string& source, const std::string& map_type);

}  // namespace vmail
