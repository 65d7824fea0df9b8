#include "exporters/access_files.h"

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

std::string render_recipient_access(const Snapshot& snapshot, const CheckedRows& rows) {
  std::string out;
  for (std::string_view a : denied_addresses(snapshot, rows, "receive")) {
    out += a;
    // 550 at RCPT: the sender's server reports it, nothing is accepted and
    // then bounced.
    out += " 550 5.7.1 this mailbox does not accept mail\n";
  }
  return out;
}

}  // namespace vmail
