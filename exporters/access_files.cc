#include "exporters/access_files.h"

#include <algorithm>
#include <set>
#include <string_view>

namespace vmail {

const std::vector<std::pair<std::string, std::string>> kDovecotDenyFiles = {
    {"imap", "imap"}, {"pop3", "pop3"}, {"sieve", "sieve"}, {"smtp", "send"}};

namespace {

// The denied addresses of one switch that belong to checked users (the
// snapshot's denials are sorted by service, then address).
std::vector<std::string_view> denied_addresses(const Snapshot& snapshot, const CheckedRows& rows,
                                               const std::string& switch_name) {
  std::set<std::string_view> safe;
  for (const CheckedUser& u : rows.users) safe.insert(u.user->address);
  std::vector<std::string_view> out;
  for (const AccessDenial& d : snapshot.denied) {
    if (d.service == switch_name && safe.contains(d.address)) out.push_back(d.address);
  }
  return out;
}

}  // namespace

std::string render_deny_file(const Snapshot& snapshot, const CheckedRows& rows, const std::string& switch_name) {
  std::string out;
  for (std::string_view a : denied_addresses(snapshot, rows, switch_name)) {
    out += a;
    out += '\n';
  }
  return out;
}

std::string render_recipient_access(const VirtualMap& map, Routes& routes) {
  if (!routes.any_receive_off()) return "";
  // 550 at RCPT: the sender's server reports it, nothing is accepted and
  // then bounced. The same reply for every address of the mailbox.
  constexpr std::string_view kRefuse = "550 5.7.1 this mailbox does not accept mail";
  std::vector<MapLine> out;
  std::set<std::string_view> refused_domains;
  for (const MapLine& l : map.lines) {
    if (!routes.refused(l.key)) continue;
    bool catch_all = l.key.front() == '@';
    out.push_back({catch_all ? l.key.substr(1) : l.key, kRefuse});
    if (catch_all) refused_domains.insert(l.key.substr(1));
  }
  if (!refused_domains.empty()) {
    for (const MapLine& l : map.lines) {
      if (l.key.front() == '@' || !refused_domains.contains(l.key.substr(l.key.find('@') + 1))) continue;
      if (!routes.refused(l.key)) out.push_back({l.key, "DUNNO"});
    }
    std::sort(out.begin(), out.end(), [](const MapLine& a, const MapLine& b) { return a.key < b.key; });
  }
  std::string text;
  for (const MapLine& l : out) {
    text.append(l.key);
    text += ' ';
    text.append(l.value);
    text += '\n';
  }
  return text;
}

std::string render_recipient_access(const CheckedRows& rows) {
  VirtualMap map = build_virtual_map(rows);
  Routes routes(rows, map.lines);
  return render_recipient_access(map, routes);
}

}  // namespace vmail
