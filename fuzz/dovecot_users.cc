// Fuzz target: the passwd-file renderer (exporters/dovecot_users.h) fed raw,
// unchecked rows, as the exporter reads them back from the database. Input:
// fields separated by 0xff, three a user: ADDRESS, HASH, [!]QUOTA ('!' =
// disabled). Every line must hold exactly the 8 passwd-file fields, its
// address and hash being a row the validators accept, one line a such row.
#include <set>
#include <string>

#include "core/row_policy.h"
#include "core/validate.h"
#include "exporters/dovecot_users.h"
#include "fuzz/fuzz_util.h"

namespace {

using namespace vmail;

User user_from(const std::string& address, const std::string& hash, std::string_view flags) {
  User u;
  u.address = address;
  size_t at = address.rfind('@');
  u.local = at == std::string::npos ? address : address.substr(0, at);
  u.domain = at == std::string::npos ? "" : address.substr(at + 1);
  u.password = hash;
  u.enabled = flags.empty() || flags.front() != '!';
  if (!u.enabled) flags.remove_prefix(1);
  if (auto q = parse_quota(flags); q.ok()) u.quota = *q;
  return u;
}

bool accepted(const User& u) {
  // What the exporter keeps: the shared row policy and the stored-hash check.
  return row_safe_user(u.address, u.local, u.domain) && check_hash(u.password, "hash", HashUse::kStored).ok();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = fuzz::fields(data, size);
  Snapshot snap;
  for (size_t i = 0; i + 1 < f.size(); i += 3) {
    snap.users.push_back(user_from(f[i], f[i + 1], i + 2 < f.size() ? f[i + 2] : ""));
  }
  std::set<std::string> good, addresses, seen;
  for (const User& u : snap.users) {
    if (accepted(u)) good.insert(u.address + ":" + u.password);
    addresses.insert(u.address);
  }
  Settings settings;
  settings.mail_dir = "/var/mail/vhosts";
  std::string out = render_dovecot_users(snap, settings);
  auto lines = fuzz::lines_of(out);
  for (std::string_view line : lines) {
    for (unsigned char c : line) fuzz::require(c >= 0x20 && c != 0x7f, "no control character in a line", line);
    size_t colons = 0;
    for (char c : line) colons += c == ':';
    bool quota = line.find("userdb_quota_rule=") != std::string_view::npos;
    fuzz::require(colons == 7 + (quota ? 1 : 0), "exactly 8 fields", line);
    size_t second = line.find(':', line.find(':') + 1);
    fuzz::require(good.count(std::string(line.substr(0, second))) == 1, "address and hash of an accepted row", line);
    fuzz::require(seen.insert(std::string(line.substr(0, line.find(':')))).second, "one line an address", line);
  }
  // With duplicate addresses only the first row counts, so only without them
  // is the number of lines known exactly.
  if (addresses.size() == snap.users.size())
    fuzz::require(lines.size() == good.size(), "one line per accepted user", out);
  return 0;
}
