// Per-login send limits through Postfix's policy delegation protocol (issue
// 25 item 2; Postfix SMTPD_POLICY_README): Postfix sends `name=value` lines
// ended by an empty line, and reads one `action=...` line and an empty line
// back. Called from smtpd_recipient_restrictions, so each request is one
// RCPT; only requests with a sasl_username (a login) are counted.
//
// Pure: parsing and the decision; the sockets are server.h's.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "core/policy_state.h"
#include "core/status.h"

namespace vmail {

using PolicyRequest = std::map<std::string, std::string>;

// Limits on what one client may send before a request is complete.
inline constexpr size_t kMaxPolicyLine = 4096;
inline constexpr size_t kMaxPolicyRequest = 64 * 1024;
inline constexpr size_t kMaxPolicyAttributes = 100;

// Takes the first complete request (up to and including its empty line) off
// the front of `buffer`. nullopt: more bytes are needed. kBadInput (the
// connection is then closed): a line longer than kMaxPolicyLine, a request
// longer than kMaxPolicyRequest or with more than kMaxPolicyAttributes
// attributes, a line without '=' or with an empty or odd name, a NUL or
// other control character, a name given twice.
Result<std::optional<PolicyRequest>> take_policy_request(std::string& buffer);

// The user's own limit: nullopt = the default (VMAIL_SEND_LIMIT), 0 = none,
// N = N recipients per hour. An error (database unreadable) fails open.
using LimitLookup = std::function<Result<std::optional<int64_t>>(const std::string& login)>;

struct SendDecision {
  std::string action;  // "DUNNO" or "451 4.7.1 ..."
  std::string log;     // one line when refused or on an error, else ""
};

// The answer to one request: DUNNO unless it is an RCPT of a login over its
// limit, counted in `state` when let through.
SendDecision decide_send(const PolicyRequest& request, PolicyState& state, const LimitLookup& limit_of,
                         int64_t default_limit, int64_t now);

// The reply as Postfix reads it: "action=...\n\n".
std::string policy_reply(const std::string& action);

}  // namespace vmail
