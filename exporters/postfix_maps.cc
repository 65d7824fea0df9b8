#include "exporters/postfix_maps.h"

#include <algorithm>
#include <deque>
#include <string_view>
#include <vector>

#include "core/validate.h"

namespace vmail {
namespace {

// The mailboxes' addresses, sorted, for membership tests.
std::vector<std::string_view> mailbox_addresses(const CheckedRows& rows) {
  std::vector<std::string_view> out;
  out.reserve(rows.users.size());
  for (const CheckedUser& u : rows.users) out.push_back(u.user->address);
  return out;
}

struct Entry {
  std::string_view key;
  std::string_view value;
};

// Merges mailbox entries and alias entries (each sorted by key) into
// `key value` lines. On a key present in both, the mailbox wins and the alias
// is reported.
std::string render_merged(const std::vector<Entry>& mailboxes, const std::vector<Entry>& aliases,
                          const SkipReporter& skipped) {
  size_t size = 0;
  for (const auto* list : {&mailboxes, &aliases}) {
    for (const Entry& e : *list) size += e.key.size() + e.value.size() + 2;
  }
  std::string out;
  out.reserve(size);
  // Postfix keeps the first of two equal keys (with a warning); checked rows
  // have none among mailboxes, but an alias may shadow a mailbox.
  std::string_view last;
  bool any = false;
  size_t i = 0;
  size_t j = 0;
  while (i < mailboxes.size() || j < aliases.size()) {
    bool take_mailbox = j == aliases.size() || (i < mailboxes.size() && !(aliases[j].key < mailboxes[i].key));
    const Entry& e = take_mailbox ? mailboxes[i++] : aliases[j++];
    if (any && e.key == last) {
      if (skipped) {
        skipped(std::string(take_mailbox ? "user " : "alias ") + quote(std::string(e.key)) +
                ": same address as a mailbox; left out of the export");
      }
      continue;
    }
    out.append(e.key);
    out += ' ';
    out.append(e.value);
    out += '\n';
    last = e.key;
    any = true;
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

std::string render_virtual(const CheckedRows& rows, const SkipReporter& skipped) {
  std::vector<std::string> values;
  values.reserve(rows.aliases.size());  // never reallocates: the entries point into it
  std::vector<Entry> alias_entries;
  alias_entries.reserve(rows.aliases.size());
  for (const CheckedAlias& a : rows.aliases) {
    if (a.destinations.empty()) continue;
    std::string dests;
    for (std::string_view d : a.destinations) {
      if (!dests.empty()) dests += ',';
      dests.append(d);
    }
    values.push_back(std::move(dests));
    alias_entries.push_back({a.alias->source, values.back()});
  }
  std::deque<std::string> owned;
  std::vector<Entry> mailboxes = mailbox_entries(rows, owned);
  std::vector<Entry> base = mailboxes;
  base.insert(base.end(), alias_entries.begin(), alias_entries.end());
  merge_sorted(alias_entries, alias_domain_entries(rows, base, true, owned));
  return render_merged(mailboxes, alias_entries, skipped);
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
  return render_merged(mailboxes, alias_entries, {});
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
