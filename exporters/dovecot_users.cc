#include "dovecot_users.h"

#include "validate.h"

namespace vmail {
namespace {

// Appends the user's line (with its newline) to `out`, or returns false and
// says why when the row is unsafe. Every field is checked or built from
// checked parts: the address and hash by the validators (neither can hold
// ':', whitespace or a control character), uid/gid and quota are numbers.
bool append_user_line(std::string& out, const User& user, const Settings& settings, std::string* why) {
  auto fail = [&](const std::string& reason) {
    if (why != nullptr) *why = "user " + quote(user.address) + ": " + reason + "; left out of the export";
    return false;
  };
  auto address = parse_address(user.address);
  if (!address.ok() || address->str() != user.address || address->local != user.local ||
      address->domain != user.domain) {
    return fail("stored address is not valid");
  }
  if (!check_hash(user.password).ok()) return fail("stored password hash is not valid");
  out += user.address;
  out += ':';
  out += user.password;
  out += ':';
  out += std::to_string(settings.uid);
  out += ':';
  out += std::to_string(settings.gid);
  out += "::";
  out += settings.mail_dir;
  out += '/';
  out += user.domain;
  out += '/';
  out += user.local;
  out += "::";
  // nologin alone is enforced only by Dovecot's login processes: SMTP AUTH
  // (Postfix via the auth socket) would still succeed. allow_nets that no
  // client matches makes the auth service itself refuse; LMTP delivery uses
  // the userdb and is unaffected.
  if (!user.enabled) out += "nologin allow_nets=0.0.0.0/32";
  if (user.quota) {
    if (!user.enabled) out += ' ';
    out += "userdb_quota_rule=*:bytes=";
    out += std::to_string(*user.quota);
  }
  out += '\n';
  return true;
}

}  // namespace

std::string dovecot_user_line(const User& user, const Settings& settings, std::string* why) {
  std::string line;
  if (!append_user_line(line, user, settings, why)) return std::string();
  line.pop_back();
  return line;
}

std::string render_dovecot_users(const Snapshot& snapshot, const Settings& settings,
                                 const std::function<void(const std::string& why)>& skipped) {
  size_t size = 0;
  for (const User& user : snapshot.users) {
    size += 2 * user.address.size() + user.password.size() + settings.mail_dir.size() + 96;
  }
  std::string out;
  out.reserve(size);
  for (const User& user : snapshot.users) {
    std::string why;
    if (!append_user_line(out, user, settings, &why) && skipped) skipped(why);
  }
  return out;
}

}  // namespace vmail
