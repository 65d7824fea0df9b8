#include "exporters/dkim_tables.h"

#include "core/dkim.h"
#include "core/validate.h"

namespace vmail {
namespace {

// The active keys whose names are safe in a table line, in snapshot order
// (domain, then ed25519 before rsa).
std::vector<const DkimKey*> signing_keys(const Snapshot& snapshot, const DkimWarn& warn, const DkimUsable& usable) {
  std::vector<const DkimKey*> out;
  for (const DkimKey& k : snapshot.dkim_keys) {
    if (k.state != DkimState::kActive) continue;
    auto domain = normalize_domain(k.domain);
    auto selector = normalize_selector(k.selector);
    if (!domain.ok() || *domain != k.domain || !selector.ok() || *selector != k.selector) {
      if (warn) warn("DKIM key " + quote(k.selector) + " of " + quote(k.domain) + ": not a clean name, not exported");
      continue;
    }
    if (usable && !usable(k)) continue;
    out.push_back(&k);
  }
  return out;
}

std::string key_name(const DkimKey& k) { return k.selector + "._domainkey." + k.domain; }

}  // namespace

std::string render_key_table(const Snapshot& snapshot, const Settings& settings, const DkimWarn& warn,
                             const DkimUsable& usable) {
  std::string out;
  for (const DkimKey* k : signing_keys(snapshot, warn, usable)) {
    out += key_name(*k) + " " + k->domain + ":" + k->selector + ":" + dkim_key_path(settings, k->domain, k->selector) +
           "\n";
  }
  return out;
}

std::string render_signing_table(const Snapshot& snapshot, const DkimWarn& warn, const DkimUsable& usable) {
  std::string out;
  for (const DkimKey* k : signing_keys(snapshot, warn, usable)) out += "*@" + k->domain + " " + key_name(*k) + "\n";
  return out;
}

}  // namespace vmail
