#include "postfix_maps.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "validate.h"

namespace vmail {
namespace {

// Values read back from the database are untrusted: a key or value that could
// add a line or a field to a map is refused. parse_address accepts only
// a-z 0-9 . _ - and LDH labels, so nothing that passes can hold a space, a
// newline, '#' or ':'.
bool safe_address(std::string_view address) {
  auto a = parse_address(address);
  return a.ok() && a->str() == address;
}

bool safe_source(std::string_view source) {
  auto a = parse_alias_source(source);
  if (!a.ok()) return false;
  return (a->local.empty() ? "@" + a->domain : a->str()) == source;
}

bool safe_user(const User& u) { return safe_address(u.address) && u.address == u.local + "@" + u.domain; }

void report(const SkipReporter& skipped, const std::string& what, const std::string& value) {
  if (skipped) skipped(what + " " + quote(value) + ": stored value is not valid; left out of the export");
}

// A snapshot is sorted already (by address and source, in byte order, which
// is std::string's order); a hand-built one may not be. Either way the maps
// come out sorted, without copying the rows.
template <class T, class Key>
std::vector<const T*> sorted(const std::vector<T>& rows, Key key) {
  std::vector<const T*> out;
  out.reserve(rows.size());
  for (const T& r : rows) out.push_back(&r);
  auto less = [&key](const T* a, const T* b) { return key(*a) < key(*b); };
  if (!std::is_sorted(out.begin(), out.end(), less)) std::stable_sort(out.begin(), out.end(), less);
  return out;
}

// The valid mailboxes' addresses, sorted, for membership tests.
std::vector<std::string_view> mailbox_addresses(const std::vector<const User*>& users) {
  std::vector<std::string_view> out;
  out.reserve(users.size());
  for (const User* u : users) {
    if (safe_user(*u)) out.push_back(u->address);
  }
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
  auto put = [&out](const Entry& e) {
    out.append(e.key);
    out += ' ';
    out.append(e.value);
    out += '\n';
  };
  // Postfix keeps the first of two equal keys (with a warning); a snapshot
  // has none, but a repeated key is dropped here rather than trusted.
  std::string_view last;
  bool any = false;
  size_t i = 0;
  size_t j = 0;
  while (i < mailboxes.size() || j < aliases.size()) {
    bool take_mailbox = j == aliases.size() || (i < mailboxes.size() && !(aliases[j].key < mailboxes[i].key));
    const Entry& e = take_mailbox ? mailboxes[i++] : aliases[j++];
    if (any && e.key == last) {
      report(skipped, take_mailbox ? "user" : "alias", std::string(e.key));
      continue;
    }
    put(e);
    last = e.key;
    any = true;
  }
  return out;
}

}  // namespace

std::string render_vmailbox(const Snapshot& snapshot, const SkipReporter& skipped) {
  auto users = sorted(snapshot.users, [](const User& u) -> const std::string& { return u.address; });
  size_t size = 0;
  for (const User* u : users) size += 2 * u->address.size() + 12;
  std::string out;
  out.reserve(size);
  const User* last = nullptr;
  for (const User* u : users) {
    if (!safe_user(*u) || (last != nullptr && last->address == u->address)) {
      report(skipped, "user", u->address);
      continue;
    }
    last = u;
    out += u->address;
    out += ' ';
    out += u->domain;
    out += '/';
    out += u->local;
    out += "/Maildir/\n";
  }
  return out;
}

std::string render_virtual(const Snapshot& snapshot, const SkipReporter& skipped) {
  auto users = sorted(snapshot.users, [](const User& u) -> const std::string& { return u.address; });
  auto aliases = sorted(snapshot.aliases, [](const Alias& a) -> const std::string& { return a.source; });
  std::vector<std::string_view> addresses = mailbox_addresses(users);
  std::vector<Entry> mailbox_entries;
  mailbox_entries.reserve(addresses.size());
  for (std::string_view a : addresses) mailbox_entries.push_back({a, a});  // every mailbox maps to itself

  std::vector<std::string> values;
  values.reserve(aliases.size());  // never reallocates: the entries point into it
  std::vector<Entry> alias_entries;
  alias_entries.reserve(aliases.size());
  for (const Alias* a : aliases) {
    if (!safe_source(a->source)) {
      report(skipped, "alias", a->source);
      continue;
    }
    std::string dests;
    for (const std::string& d : a->destinations) {
      if (!safe_address(d)) {
        report(skipped, "destination", d);
        continue;
      }
      if (!dests.empty()) dests += ',';
      dests += d;
    }
    if (dests.empty()) continue;
    values.push_back(std::move(dests));
    alias_entries.push_back({a->source, values.back()});
  }
  return render_merged(mailbox_entries, alias_entries, skipped);
}

std::string render_vdomains(const Snapshot& snapshot, const SkipReporter& skipped) {
  std::vector<std::string> domains = snapshot.domains;
  std::sort(domains.begin(), domains.end());
  domains.erase(std::unique(domains.begin(), domains.end()), domains.end());
  std::string out;
  for (const std::string& d : domains) {
    auto n = normalize_domain(d);
    if (!n.ok() || *n != d) {
      report(skipped, "domain", d);
      continue;
    }
    out += d + " OK\n";
  }
  return out;
}

std::string render_sender_logins(const Snapshot& snapshot, const SkipReporter& /*skipped*/) {
  auto users = sorted(snapshot.users, [](const User& u) -> const std::string& { return u.address; });
  auto aliases = sorted(snapshot.aliases, [](const Alias& a) -> const std::string& { return a.source; });
  std::vector<std::string_view> addresses = mailbox_addresses(users);
  auto is_mailbox = [&addresses](std::string_view a) {
    return std::binary_search(addresses.begin(), addresses.end(), a);
  };
  std::vector<Entry> mailbox_entries;
  mailbox_entries.reserve(addresses.size());
  for (std::string_view a : addresses) mailbox_entries.push_back({a, a});  // a mailbox owns itself

  std::vector<std::string> values;
  values.reserve(aliases.size());
  std::vector<Entry> alias_entries;
  alias_entries.reserve(aliases.size());
  for (const Alias* a : aliases) {
    // A catch-all does not make its destinations owners of every address.
    if (!safe_source(a->source) || a->source.front() == '@') continue;
    std::vector<std::string_view> logins;
    for (const std::string& d : a->destinations) {
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
    alias_entries.push_back({a->source, values.back()});
  }
  return render_merged(mailbox_entries, alias_entries, {});
}

std::string map_database_path(const std::string& source, const std::string& map_type) {
  if (map_type == "lmdb") return source + ".lmdb";
  if (map_type == "cdb") return source + ".cdb";
  return source + ".db";
}

}  // namespace vmail
