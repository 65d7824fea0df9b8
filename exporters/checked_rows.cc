#include "exporters/checked_rows.h"

#include <algorithm>

#include "core/row_policy.h"
#include "core/validate.h"

namespace vmail {
namespace {

void report(const SkipReporter& skipped, const std::string& what, std::string_view value, const char* why) {
  if (skipped) skipped(what + " " + quote(std::string(value)) + ": " + why + "; left out of the export");
}

// A snapshot is sorted already (by address and source, in byte order, which
// is std::string's order); a hand-built one may not be. Either way the rows
// come out sorted, without copying them.
template <class T, class Key>
std::vector<const T*> sorted(const std::vector<T>& rows, Key key) {
  std::vector<const T*> out;
  out.reserve(rows.size());
  for (const T& r : rows) out.push_back(&r);
  auto less = [&key](const T* a, const T* b) { return key(*a) < key(*b); };
  if (!std::is_sorted(out.begin(), out.end(), less)) std::stable_sort(out.begin(), out.end(), less);
  return out;
}

// Alias domains and forwards, judged like the rows they point to.
void check_routing(const Snapshot& snapshot, const SkipReporter& skipped, CheckedRows& rows) {
  for (const AliasDomain* a :
       sorted(snapshot.alias_domains, [](const AliasDomain& d) -> const std::string& { return d.alias; })) {
    if (row_safe_domain(a->alias) && row_safe_domain(a->target)) {
      rows.alias_domains.push_back(a);
    } else {
      report(skipped, "alias domain", a->alias, "stored value is not valid");
    }
  }
  for (const Forward* f : sorted(snapshot.forwards, [](const Forward& x) -> const std::string& { return x.address; })) {
    if (!row_safe_address(f->address)) {
      report(skipped, "forward", f->address, "stored value is not valid");
      continue;
    }
    CheckedForward checked{f, {}};
    for (const std::string& d : f->destinations) {
      if (row_safe_address(d)) {
        checked.destinations.push_back(d);
      } else {
        report(skipped, "forward destination", d, "stored value is not valid");
      }
    }
    if (!checked.destinations.empty()) rows.forwards.push_back(std::move(checked));
  }
}

}  // namespace

CheckedRows check_rows(const Snapshot& snapshot, const SkipReporter& skipped) {
  CheckedRows rows;
  auto users = sorted(snapshot.users, [](const User& u) -> const std::string& { return u.address; });
  rows.users.reserve(users.size());
  const User* last = nullptr;
  for (const User* u : users) {
    if (!row_safe_user(u->address, u->local, u->domain) || (last != nullptr && last->address == u->address)) {
      report(skipped, "user", u->address, "stored address is not valid");
      continue;
    }
    last = u;
    bool hash_ok = check_hash(u->password, "hash", HashUse::kStored).ok();
    if (!hash_ok) report(skipped, "user", u->address, "stored password hash is not valid");
    rows.users.push_back({u, hash_ok});
  }

  auto aliases = sorted(snapshot.aliases, [](const Alias& a) -> const std::string& { return a.source; });
  rows.aliases.reserve(aliases.size());
  for (const Alias* a : aliases) {
    if (!row_safe_alias_source(a->source)) {
      report(skipped, "alias", a->source, "stored value is not valid");
      continue;
    }
    CheckedAlias& checked = rows.aliases.emplace_back(CheckedAlias{a, {}});
    for (const std::string& d : a->destinations) {
      if (row_safe_address(d)) {
        checked.destinations.push_back(d);
      } else {
        report(skipped, "destination", d, "stored value is not valid");
      }
    }
  }

  for (const std::string& d : snapshot.domains) {
    if (row_safe_domain(d)) {
      rows.domains.push_back(d);
    } else {
      report(skipped, "domain", d, "stored value is not valid");
    }
  }
  std::sort(rows.domains.begin(), rows.domains.end());
  rows.domains.erase(std::unique(rows.domains.begin(), rows.domains.end()), rows.domains.end());
  check_routing(snapshot, skipped, rows);
  for (const AccessDenial& d : snapshot.denied) {
    auto u = std::lower_bound(rows.users.begin(), rows.users.end(), d.address,
                              [](const CheckedUser& c, const std::string& a) { return c.user->address < a; });
    if (d.service == "receive" && u != rows.users.end() && u->user->address == d.address) {
      rows.receive_off.push_back(u->user->address);
    }
  }
  std::sort(rows.receive_off.begin(), rows.receive_off.end());
  rows.receive_off.erase(std::unique(rows.receive_off.begin(), rows.receive_off.end()), rows.receive_off.end());
  return rows;
}

}  // namespace vmail
