// Fuzz target: the Postfix map renderers (exporters/postfix_maps.h) fed raw,
// unchecked rows. Input: fields separated by 0xff, each a row: dDOMAIN,
// uADDRESS or aSOURCE=DEST,DEST... Every line of every map must be exactly
// `KEY VALUE` (one space, no other whitespace or control character), its key
// a value the shared row policy (core/row_policy.h) accepts: the exporter and
// the NSS module judge rows read back by it, not by the input validators.
#include <set>
#include <string>

#include "core/row_policy.h"
#include "core/validate.h"
#include "exporters/postfix_maps.h"
#include "fuzz/fuzz_util.h"

namespace {

using namespace vmail;

void add_row(Snapshot& snap, const std::string& f) {
  if (f.empty()) return;
  std::string v = f.substr(1);
  if (f[0] == 'd') snap.domains.push_back(v);
  if (f[0] == 'u') {
    User u;
    u.address = v;
    size_t at = v.rfind('@');
    u.local = at == std::string::npos ? v : v.substr(0, at);
    u.domain = at == std::string::npos ? "" : v.substr(at + 1);
    u.password =
        "{SHA512-CRYPT}$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.";
    snap.users.push_back(u);
  }
  if (f[0] == 'a') {
    Alias a;
    size_t eq = v.find('=');
    a.source = v.substr(0, eq);
    size_t at = a.source.rfind('@');
    a.domain = at == std::string::npos ? "" : a.source.substr(at + 1);
    if (eq != std::string::npos) {
      std::string list = v.substr(eq + 1);
      size_t start = 0;
      while (true) {
        size_t comma = list.find(',', start);
        a.destinations.push_back(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    snap.aliases.push_back(a);
  }
}

void check_map(const std::string& out, const std::set<std::string>& keys) {
  for (std::string_view line : fuzz::lines_of(out)) {
    size_t spaces = 0;
    for (unsigned char c : line) {
      fuzz::require(c > 0x20 || c == ' ', "no control character or tab", line);
      fuzz::require(c != 0x7f, "no DEL", line);
      spaces += c == ' ';
    }
    fuzz::require(spaces == 1, "exactly KEY VALUE", line);
    std::string key(line.substr(0, line.find(' ')));
    fuzz::require(keys.count(key) == 1, "key is an accepted value", line);
    std::string_view value = line.substr(line.find(' ') + 1);
    fuzz::require(!value.empty(), "value present", line);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Snapshot snap;
  for (const std::string& f : fuzz::fields(data, size)) add_row(snap, f);
  std::set<std::string> keys;
  for (const auto& d : snap.domains) {
    if (row_safe_domain(d)) keys.insert(d);
  }
  for (const auto& u : snap.users) {
    if (row_safe_user(u.address, u.local, u.domain)) keys.insert(u.address);
  }
  for (const auto& a : snap.aliases) {
    if (row_safe_alias_source(a.source)) keys.insert(a.source);
  }
  check_map(render_vmailbox(snap), keys);
  check_map(render_virtual(snap), keys);
  check_map(render_vdomains(snap), keys);
  check_map(render_sender_logins(snap), keys);
  return 0;
}
