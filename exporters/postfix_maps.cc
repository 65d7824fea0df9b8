#include "exporters/postfix_maps.h"

#include <algorithm>
#include <deque>
#include <string_view>
#include <vector>

#include "core/validate.h"
#include "exporters/routes.h"

namespace vmail {
namespace {

// The mailboxes' addresses, sorted, for membership tests.
std::vector<std::string_view> mailbox_addresses(const CheckedRows& rows) {
  std::vector<std::string_view> out;
  out.reserve(rows.users.size());
  for (const CheckedUser& u : rows.users) out.push_back(u.user->address);
  return out;
}

using Entry = MapLine;

// Merges mailbox entries and alias entries (each sorted by key) into one
// sorted list. On a key present in both, the mailbox wins and the alias is
// reported: Postfix would keep the first of two equal keys (with a warning).
std::vector<Entry> merge_unique(const std::vector<Entry>& mailboxes, const std::vector<Entry>& aliases,
                                const SkipReporter& skipped) {
  std::vector<Entry> out;
  out.reserve(mailboxes.size() + aliases.size());
  size_t i = 0;
  size_t j = 0;
  while (i < mailboxes.size() || j < aliases.size()) {
    bool take_mailbox = j == aliases.size() || (i < mailboxes.size() && !(aliases[j].key < mailboxes[i].key));
    const Entry& e = take_mailbox ? mailboxes[i++] : aliases[j++];
    if (!out.empty() && e.key == out.back().key) {
      if (skipped) {
        skipped(std::string(take_mailbox ? "user " : "alias ") + quote(std::string(e.key)) +
                ": same address as a mailbox; left out of the export");
      }
      continue;
    }
    out.push_back(e);
  }
  return out;
}

// `key value` lines.
std::string format_lines(const std::vector<Entry>& entries) {
  size_t size = 0;
  for (const Entry& e : entries) size += e.key.size() + e.value.size() + 2;
  std::string out;
  out.reserve(size);
  for (const Entry& e : entries) {
    out.append(e.key);
    out += ' ';
    out.append(e.value);
    out += '\n';
  }
  return out;
}

// Every mailbox maps to itself (virtual) or owns itself (sender_logins).
std::vector<Entry> self_entries(const std::vector<std::string_view>& addresses) {
  std::vector<Entry> out;
  out.reserve(addresses.size());
  for (std::string_view a : addresses) out.push_back({a, a});
  return out;
}

// The domain part of a key (`local@domain` or `@domain`).
std::string_view domain_of(std::string_view key) { return key.substr(key.find('@') + 1); }

// Alias domains (SPEC "Mail policy"): for each alias domain A of T and each
// entry x@T of `base` (mailbox, alias or catch-all `@T`), an entry x@A whose
// value is x@T (`to_target`) or the entry's own value. Explicit lines, so an
// unknown user at A is still refused at RCPT time. Keys live in `owned`.
std::vector<Entry> alias_domain_entries(const CheckedRows& rows, const std::vector<Entry>& base, bool to_target,
                                        std::deque<std::string>& owned) {
  std::vector<Entry> out;
  for (const AliasDomain* d : rows.alias_domains) {
    for (const Entry& e : base) {
      if (domain_of(e.key) != d->target) continue;
      owned.push_back(std::string(e.key.substr(0, e.key.find('@') + 1)) + d->alias);
      out.push_back({owned.back(), to_target ? e.key : e.value});
    }
  }
  return out;
}

// `extra` added to the sorted `entries`, all sorted by key again.
void merge_sorted(std::vector<Entry>& entries, const std::vector<Entry>& extra) {
  if (extra.empty()) return;
  entries.insert(entries.end(), extra.begin(), extra.end());
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.key < b.key; });
}

// Each mailbox's virtual line: itself, or where it forwards (SPEC `user
// forward`: with keep, itself first). Values live in `owned`.
std::vector<Entry> mailbox_entries(const CheckedRows& rows, std::deque<std::string>& owned) {
  std::vector<Entry> out = self_entries(mailbox_addresses(rows));
  size_t f = 0;
  for (Entry& e : out) {
    while (f < rows.forwards.size() && rows.forwards[f].forward->address < e.key) ++f;
    if (f == rows.forwards.size() || rows.forwards[f].forward->address != e.key) continue;
    std::string value = rows.forwards[f].forward->keep ? std::string(e.key) : std::string();
    for (std::string_view d : rows.forwards[f].destinations) {
      if (!value.empty()) value += ',';
      value.append(d);
    }
    owned.push_back(std::move(value));
    e.value = owned.back();
  }
  return out;
}

}  // namespace

std::string render_vmailbox(const CheckedRows& rows) {
  size_t size = 0;
  for (const CheckedUser& u : rows.users) size += 2 * u.user->address.size() + 12;
  std::string out;
  out.reserve(size);
  for (const CheckedUser& c : rows.users) {
    const User& u = *c.user;
    out += u.address;
    out += ' ';
    out += u.domain;
    out += '/';
    out += u.local;
    out += "/Maildir/\n";
  }
  return out;
}

VirtualMap build_virtual_map(const CheckedRows& rows, const SkipReporter& skipped) {
  VirtualMap map;
  std::vector<Entry> alias_entries;
  alias_entries.reserve(rows.aliases.size());
  for (const CheckedAlias& a : rows.aliases) {
    if (a.destinations.empty()) continue;
    std::string dests;
    for (std::string_view d : a.destinations) {
      if (!dests.empty()) dests += ',';
      dests.append(d);
    }
    map.owned.push_back(std::move(dests));
    alias_entries.push_back({a.alias->source, map.owned.back()});
  }
  std::vector<Entry> mailboxes = mailbox_entries(rows, map.owned);
  std::vector<Entry> base = mailboxes;
  base.insert(base.end(), alias_entries.begin(), alias_entries.end());
  merge_sorted(alias_entries, alias_domain_entries(rows, base, true, map.owned));
  map.lines = merge_unique(mailboxes, alias_entries, skipped);
  return map;
}

std::string render_virtual(const VirtualMap& map, Routes& routes) {
  if (!routes.any_receive_off()) return format_lines(map.lines);
  std::vector<Entry> lines = map.lines;
  std::deque<std::string> kept;
  for (Entry& e : lines) {
    // A source whose every destination is refused keeps them all: it is
    // refused at RCPT (recipient_access), with the mailbox's own reply.
    if (routes.refused(e.key)) continue;
    std::string value;
    bool dropped = false;
    for (std::string_view d : split_destinations(e.value)) {
      if (routes.refused(d)) {
        dropped = true;
        continue;
      }
      if (!value.empty()) value += ',';
      value.append(d);
    }
    if (!dropped) continue;
    kept.push_back(std::move(value));
    e.value = kept.back();
  }
  return format_lines(lines);
}

std::string render_virtual(const CheckedRows& rows, const SkipReporter& skipped) {
  VirtualMap map = build_virtual_map(rows, skipped);
  Routes routes(rows, map.lines);
  return render_virtual(map, routes);
}

std::string render_vdomains(const CheckedRows& rows) {
  std::string out;
  for (std::string_view d : rows.domains) {
    out.append(d);
    out += " OK\n";
  }
  return out;
}

std::string render_sender_logins(const CheckedRows& rows) {
  std::vector<std::string_view> addresses = mailbox_addresses(rows);
  auto is_mailbox = [&addresses](std::string_view a) {
    return std::binary_search(addresses.begin(), addresses.end(), a);
  };
  std::vector<std::string> values;
  values.reserve(rows.aliases.size());
  std::vector<Entry> alias_entries;
  alias_entries.reserve(rows.aliases.size());
  for (const CheckedAlias& a : rows.aliases) {
    // A catch-all does not make its destinations owners of every address.
    if (a.alias->source.front() == '@') continue;
    std::vector<std::string_view> logins;
    for (std::string_view d : a.destinations) {
      if (is_mailbox(d)) logins.push_back(d);
    }
    if (logins.empty()) continue;
    std::sort(logins.begin(), logins.end());
    logins.erase(std::unique(logins.begin(), logins.end()), logins.end());
    std::string joined;
    for (std::string_view l : logins) {
      if (!joined.empty()) joined += ',';
      joined.append(l);
    }
    values.push_back(std::move(joined));
    alias_entries.push_back({a.alias->source, values.back()});
  }
  // Users may send as their address at an alias domain (SPEC "Mail policy").
  std::deque<std::string> owned;
  std::vector<Entry> mailboxes = self_entries(addresses);
  std::vector<Entry> base = mailboxes;
  base.insert(base.end(), alias_entries.begin(), alias_entries.end());
  merge_sorted(alias_entries, alias_domain_entries(rows, base, false, owned));
  return format_lines(merge_unique(mailboxes, alias_entries, {}));
}

std::string render_hosted_senders(const CheckedRows& rows) {
  // Alias domains are rows of the domains table too; added again in case a
  // snapshot ever lists them apart. Sorted and unique either way.
  std::vector<std::string_view> domains(rows.domains.begin(), rows.domains.end());
  for (const AliasDomain* d : rows.alias_domains) domains.push_back(d->alias);
  std::sort(domains.begin(), domains.end());
  domains.erase(std::unique(domains.begin(), domains.end()), domains.end());
  std::string out;
  for (std::string_view d : domains) {
    out.append(d);
    // A domain key matches every address of the domain, not only the
    // addresses sender_logins lists (see main.cf.mustache).
    out += " REJECT 5.7.1 sender address in a domain hosted here: authenticate on the submission port\n";
  }
  return out;
}

std::string render_vmailbox(const Snapshot& snapshot, const SkipReporter& skipped) {
  return render_vmailbox(check_rows(snapshot, skipped));
}
std::string render_virtual(const Snapshot& snapshot, const SkipReporter& skipped) {
  return render_virtual(check_rows(snapshot, skipped), skipped);
}
std::string render_vdomains(const Snapshot& snapshot, const SkipReporter& skipped) {
  return render_vdomains(check_rows(snapshot, skipped));
}
std::string render_sender_logins(const Snapshot& snapshot, const SkipReporter& skipped) {
  return render_sender_logins(check_rows(snapshot, skipped));
}

std::string map_database_path(const std::string& source, const std::string& map_type) {
  if (map_type == "lmdb") return source + ".lmdb";
  if (map_type == "cdb") return source + ".cdb";
  return source + ".db";
}

}  // namespace vmail
