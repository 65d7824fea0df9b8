// vmail-policyd's two loopback services (issue 25): Dovecot's auth policy
// over HTTP (auth_policy.h) and Postfix's policy delegation for send limits
// (send_policy.h), over one PolicyState ($VMAIL_STATE_DIR/policy.db) and the
// vmail database read-only for each login's own limit.
#pragma once

#include <cstdint>
#include <string>

#include "policy/auth_policy.h"

namespace vmail {

struct PolicydOptions {
  uint16_t auth_port = 0;  // Dovecot's auth policy (HTTP) on 127.0.0.1
  uint16_t send_port = 0;  // Postfix's policy delegation on 127.0.0.1
  std::string state_dir;   // VMAIL_STATE_DIR: policy.db
  std::string db;          // the vmail database (or a PostgreSQL node's replica), read-only
  AuthPolicyConfig auth;
  int64_t send_limit = 500;  // VMAIL_SEND_LIMIT
};

// Opens the state, listens on both ports and serves until SIGTERM or SIGINT
// (blocked by the caller's thread before any other thread starts). Returns
// the exit code: 0 after a stop, 78 when a port cannot be bound or the state
// cannot be opened (one line logged).
int run_policyd(const PolicydOptions& options);

}  // namespace vmail
