// The addresses of a From: header field (RFC 5322 section 3.4 address-list,
// with RFC 6532 UTF-8): mailboxes, groups, comments, quoted strings, and the
// obsolete forms a hostile client may still send (routes, dotted phrases,
// empty list elements). Pure and thread-safe.
//
// The parser is strict where a lax one could be fooled: an '@' outside an
// address, a '<' after an address, an unterminated comment, quoted string,
// literal or group, a control character, and a list with no mailbox at all
// are refused with a reason, never guessed around.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace vmail {

struct HeaderAddress {
  std::string local;   // the local part, unquoted (quoted-pairs resolved), case kept
  std::string domain;  // the domain as written ("[1.2.3.4]" for a literal), case kept
  std::string str() const { return local + "@" + domain; }
};

// Every mailbox of `value` (one From: field's value, folded or not), in
// order, group members included. Code::kBadInput with a one-line reason when
// the value is not an address-list or names no mailbox (an empty group
// `undisclosed:;`, an encoded word alone).
Result<std::vector<HeaderAddress>> parse_address_list(std::string_view value);

}  // namespace vmail
