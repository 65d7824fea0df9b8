#include "dovecot_users.h"

#include "validate.h"

namespace vmail {

std::string dovecot_user_line(const User& user, const Settings& settings, std::string* why) {
  auto fail = [&](const std::string& reason) {
    if (why != nullptr) *why = "user " + quote(user.address) + ": " + reason + "; left out of the export";
    return std::string();
  };
  auto address = parse_address(user.address);
  if (!address.ok() || address->str() != user.address || address->local != user.local ||
      address->domain != user.domain) {
    return fail("stored address is not valid");
  }
  if (!check_hash(user.password).ok()) return fail("stored password hash is not valid");
  std::string line = user.address + ":" + user.password + ":" + std::to_string(settings.uid) + ":" +
                     std::to_string(settings.gid) + "::" + settings.mail_dir + "/" + user.domain + "/" + user.local +
                     "::";
  std::string extra;
  if (!user.enabled) extra += "nologin";
  if (user.quota) {
    if (!extra.empty()) extra += ' ';
    extra += "userdb_quota_rule=*:bytes=" + std::to_string(*user.quota);
  }
  return line + extra;
}

std::string render_dovecot_users(const Snapshot& snapshot, const Settings& settings,
                                 const std::function<void(const std::string& why)>& skipped) {
  std::string out;
  out.reserve(snapshot.users.size() * 160);
  for (const User& user : snapshot.users) {
    std::string why;
    std::string line = dovecot_user_line(user, settings, &why);
    if (line.empty()) {
      if (skipped) skipped(why);
      continue;
    }
    out += line;
    out += '\n';
  }
  return out;
}

}  // namespace vmail
