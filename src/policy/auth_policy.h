// Login bans through Dovecot's auth policy interface (issue 25 item 1).
//
// Dovecot's auth (every IMAP, POP3 and ManageSieve login, and every SMTP AUTH
// Postfix hands it) POSTs a JSON object to auth_policy_server_url with
// `?command=allow` before it checks a password, and `?command=report` once it
// knows the result (Dovecot 2.3's auth-policy.c). The object holds the
// attributes of auth_policy_request_attributes (here `login`, `remote` = the
// client's address, `protocol`); a report adds `success` and `policy_reject`
// (true when this server refused it). The reply to allow is
// {"status":N,"msg":"..."}: N < 0 refuses the login with msg, 0 lets it
// go on; a report's reply is ignored.
//
// Pure request handling over a PolicyState: no sockets here (server.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/ip_network.h"
#include "core/policy_state.h"

namespace vmail {

struct AuthPolicyConfig {
  BanRules rules;
  std::vector<IpNetwork> ignore;  // VMAIL_BAN_IGNORE: never banned, never counted
};

struct HttpReply {
  int code = 200;
  std::string body;  // JSON
};

// The largest request body taken (Dovecot's is a few hundred bytes).
inline constexpr size_t kMaxAuthPolicyBody = 16 * 1024;

// Answers one request. `command` is the query's command; `body` the JSON.
// A malformed request gets 400 (Dovecot then goes on as if the server were
// down: auth_policy_reject_on_fail=no). A state error gets 500 and is put in
// *log. Lines worth logging (a new ban) are appended to *log.
HttpReply handle_auth_policy(const std::string& command, const std::string& body, PolicyState& state,
                             const AuthPolicyConfig& config, int64_t now, std::vector<std::string>* log);

// The refusal a banned client sees (Dovecot passes msg on as the reason).
inline constexpr const char* kBannedMessage = "Too many failed logins from your address; try again later";

}  // namespace vmail
