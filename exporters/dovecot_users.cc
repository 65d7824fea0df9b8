#include "exporters/dovecot_users.h"

#include "core/validate.h"

namespace vmail {
namespace {

// Appends a checked user's line (with its newline) to `out`. Every field is
// checked or built from checked parts: the address and hash by the
// validators (neither can hold ':', whitespace or a control character),
// uid/gid and quota are numbers, the mail dir is checked by the export.
void append_user_line(std::string& out, const User& user, const Settings& settings) {
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
}

}  // namespace

std::string dovecot_user_line(const User& user, const Settings& settings, std::string* why) {
  Snapshot one;
  one.users.push_back(user);
  std::string line = render_dovecot_users(check_rows(one,
                                                     [why](const std::string& reason) {
                                                       if (why != nullptr && why->empty()) *why = reason;
                                                     }),
                                          settings);
  if (!line.empty()) line.pop_back();
  return line;
}

std::string render_dovecot_users(const CheckedRows& rows, const Settings& settings) {
  size_t size = 0;
  for (const CheckedUser& u : rows.users) {
    size += 2 * u.user->address.size() + u.user->password.size() + settings.mail_dir.size() + 96;
  }
  std::string out;
  out.reserve(size);
  for (const CheckedUser& u : rows.users) {
    if (u.hash_ok) append_user_line(out, *u.user, settings);
  }
  return out;
}

std::string render_alias_quotas(const VirtualMap& map, Routes& routes, const Settings& settings) {
  std::string out;
  for (const MapLine& l : map.lines) {
    // A catch-all key is no user name: quota-status never asks for one.
    if (l.key.front() == '@' || routes.mailbox(l.key) != nullptr) continue;
    Reach r = routes.reach(l.key);
    if (r.kind != Reach::Kind::kOne) continue;
    const CheckedUser* to = routes.mailbox(r.to);
    // A user left out of the users file is no user to Dovecot either.
    if (to == nullptr || !to->hash_ok || !to->user->quota) continue;
    const User& u = *to->user;
    out.append(l.key);
    out += "::";
    out += std::to_string(settings.uid);
    out += ':';
    out += std::to_string(settings.gid);
    out += "::";
    out += settings.mail_dir;
    out += '/';
    out += u.domain;
    out += '/';
    out += u.local;
    out += "::userdb_quota_rule=*:bytes=";
    out += std::to_string(*u.quota);
    out += '\n';
  }
  return out;
}

std::string render_alias_quotas(const CheckedRows& rows, const Settings& settings) {
  VirtualMap map = build_virtual_map(rows);
  Routes routes(rows, map.lines);
  return render_alias_quotas(map, routes, settings);
}

std::string render_dovecot_users(const Snapshot& snapshot, const Settings& settings, const SkipReporter& skipped) {
  return render_dovecot_users(check_rows(snapshot, skipped), settings);
}

}  // namespace vmail
