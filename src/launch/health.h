// `vmail health`: checks every mail service the way a client would (SPEC
// "Health"): the greeting, a STARTTLS or implicit TLS handshake (OpenSSL;
// the certificate is not verified, a self-signed one is normal), and a clean
// quit. ManageSieve: greeting, STARTTLS, LOGOUT; quota-status (loopback): one
// policy request answered with an `action=` line; opendkim and vmail-milter
// (unix sockets): a milter option negotiation answered; with VMAIL_SPAM=on,
// Redis (PING), rspamd's milter (an option negotiation over TCP), its
// controller (GET /ping) and postgrey (a policy request); opendkim: a test
// signature for each signing domain (SPEC: a daemon that cannot do its job
// is never silent, and health fails). Services are checked
// in parallel; thread-safe.
#pragma once

#include <chrono>
#include <ctime>
#include <string>
#include <vector>

#include "launch/launch_settings.h"

namespace vmail {

struct ServiceHealth {
  std::string name;    // as in kServices: smtp, submission, ...
  uint16_t port = 0;   // 0 for a unix socket service
  std::string socket;  // its path (opendkim, vmail-milter), "" for a port
  std::string file;    // the status file it reports through (follower), else ""
  bool healthy = false;
  int64_t ms = 0;     // time the check took
  std::string error;  // why it is unhealthy ("" when healthy)
};

// A milter to check: its name in the report and its unix socket.
struct MilterSocket {
  std::string name;  // opendkim, vmail-milter
  std::string path;
  // OpenDKIM's KeyTable, or "": then, after the handshake, one test message
  // per domain in it, From: that domain, as from a login (macro
  // {daemon_name}=ORIGINATING, as submission sends), must come back with a
  // DKIM-Signature header. A refusal names the domain and, when the key
  // files show it, why (key_safety.h).
  std::string key_table;
};

// Checks each service of kServices that runs (Endpoints::enabled) on `host`
// (the loopback-only ones on 127.0.0.1), then each milter socket, within
// `timeout` per service.
std::vector<ServiceHealth> check_health(const std::string& host, const Endpoints& endpoints,
                                        const std::vector<MilterSocket>& milters, std::chrono::milliseconds timeout);

// The milters vmail-launch runs for `settings`' root: opendkim, vmail-milter.
std::vector<MilterSocket> milter_sockets(const Settings& settings);

// The follower of a PostgreSQL store (pg/follow.h), judged by the status file
// it rewrites every second: healthy when that was updated within
// `max_age` before `now` and says the shared store is reachable.
ServiceHealth check_follower(const std::string& status_file, std::time_t now, int max_age_seconds = 10);

}  // namespace vmail
