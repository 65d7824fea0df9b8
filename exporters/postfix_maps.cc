#include "postfix_maps.h"

#include <map>
#include <set>

#include "validate.h"

namespace vmail {
namespace {

// Values read back from the database are untrusted: a key or value that could
// add a line or a field to a map is refused.
bool safe_address(const std::string& address) {
  auto a = parse_address(address);
  return a.ok() && a->str() == address;
}

bool safe_source(const std::string& source) {
  auto a = parse_alias_source(source);
  if (!a.ok()) return false;
  return (a->local.empty() ? "@" + a->domain : a->str()) == source;
}

void report(const SkipReporter& skipped, const std::string& what, const std::string& value) {
  if (skipped) skipped(what + " " + quote(value) + ": stored value is not valid; left out of the export");
}

std::string join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ',';
    out += item;
  }
  return out;
}

std::string render(const std::map<std::string, std::string>& entries) {
  std::string out;
  for (const auto& [key, value] : entries) {
    out += key;
    out += ' ';
    out += value;
    out += '\n';
  }
  return out;
}

}  // namespace

std::string render_vmailbox(const Snapshot& snapshot, const SkipReporter& skipped) {
  std::string out;
  out.reserve(snapshot.users.size() * 64);
  for (const User& u : snapshot.users) {  // already sorted by address
    if (!safe_address(u.address) || u.address != u.local + "@" + u.domain) {
      report(skipped, "user", u.address);
      continue;
    }
    out += u.address;
    out += ' ';
    out += u.domain;
    out += '/';
    out += u.local;
    out += "/Maildir/\n";
  }
  return out;
}

std::string render_virtual(const Snapshot& snapshot, const SkipReporter& skipped) {
  std::map<std::string, std::string> entries;
  for (const User& u : snapshot.users) {
    if (safe_address(u.address)) entries[u.address] = u.address;
  }
  for (const Alias& a : snapshot.aliases) {
    if (!safe_source(a.source) || entries.count(a.source) != 0) {
      report(skipped, "alias", a.source);
      continue;
    }
    std::string dests;
    for (const std::string& d : a.destinations) {
      if (!safe_address(d)) {
        report(skipped, "destination", d);
        continue;
      }
      if (!dests.empty()) dests += ',';
      dests += d;
    }
    if (!dests.empty()) entries[a.source] = dests;
  }
  return render(entries);
}

std::string render_vdomains(const Snapshot& snapshot, const SkipReporter& skipped) {
  std::string out;
  for (const std::string& d : snapshot.domains) {
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
  std::set<std::string> mailboxes;
  for (const User& u : snapshot.users) {
    if (safe_address(u.address)) mailboxes.insert(u.address);
  }
  std::map<std::string, std::set<std::string>> owners;
  for (const std::string& m : mailboxes) owners[m].insert(m);
  for (const Alias& a : snapshot.aliases) {
    // A catch-all does not make its destinations owners of every address.
    if (!safe_source(a.source) || a.source.front() == '@') continue;
    for (const std::string& d : a.destinations) {
      if (mailboxes.count(d) != 0) owners[a.source].insert(d);
    }
  }
  std::map<std::string, std::string> entries;
  for (const auto& [address, logins] : owners) {
    if (!logins.empty()) entries[address] = join(logins);
  }
  return render(entries);
}

std::string map_database_path(const std::string& source, const std::string& map_type) {
  if (map_type == "lmdb") return source + ".lmdb";
  if (map_type == "cdb") return source + ".cdb";
  return source + ".db";
}

}  // namespace vmail
