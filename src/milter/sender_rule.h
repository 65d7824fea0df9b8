// Who may put which address in the From: header: the rule Postfix applies to
// the envelope sender (smtpd_sender_login_maps = the exported sender_logins
// map, reject_sender_login_mismatch), applied to every From: address. The
// table is read from the very file Postfix reads, so the two rules cannot
// drift apart. Pure; a SenderLogins is immutable and safe to share between
// threads.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace vmail {

class SenderLogins {
 public:
  // Parses sender_logins text (`address login[,login...]` lines, as
  // exporters/postfix_maps.h renders it; blank lines and `#` comments
  // skipped). A line that does not hold a valid key and valid login
  // addresses is left out and reported through `skipped` ("line N: reason").
  static SenderLogins parse(std::string_view text,
                            const std::function<void(const std::string&)>& skipped = {});

  // The logins that own `address` (already lowercase, domain in A-label
  // form), looked up as Postfix does: the address, then without its
  // +extension, then `@domain`; the first key found decides. Empty when no
  // key matches.
  const std::vector<std::string>* owners(const std::string& address) const;

  size_t size() const { return owners_.size(); }

 private:
  std::unordered_map<std::string, std::vector<std::string>> owners_;
};

struct FromVerdict {
  bool allowed = false;
  std::string address;  // the offending From: address as written ("" when none is to blame)
  std::string reason;   // one line, for the log and the SMTP reply
};

// Whether `login` (the SASL login name) may send a message whose From:
// fields have `values`: there must be at least one From: field, each must
// parse (from_header.h), and every address in them must be one `login` may
// send as (case-insensitive; an internationalised domain compares in its
// A-label form). The first address that fails decides the reason.
FromVerdict check_from(const SenderLogins& table, std::string_view login, const std::vector<std::string>& values);

}  // namespace vmail
