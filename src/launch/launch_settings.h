// Settings of the launcher and of `vmail health` on top of the shared ones
// (settings.h): the primary domain, server name, certificate sources,
// listening address and ports, and the folders each daemon writes, all under
// VMAIL_ROOT (SPEC "Paths and settings", "Launcher").
//
// Same resolution as settings.h: flag, environment, then (ports, listen
// address, VMAIL_SPAM and VMAIL_GREYLIST only, for `vmail health`) the values
// the launcher recorded, then the default. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/policy_state.h"
#include "core/settings.h"
#include "core/status.h"

namespace vmail {

// One listening service: its name in `vmail health` and its variable (its
// default, help and flag are the settings table's: core/settings_table.h).
struct ServiceSpec {
  const char* name;      // "smtp", "submission", ...
  const char* variable;  // "VMAIL_SMTP_PORT", ...
  // The on/off settings that run the service ({"VMAIL_DANE"}; postgrey needs
  // VMAIL_SPAM and VMAIL_GREYLIST); none: always on. An off service has
  // port 0: nothing listens, no port is checked, `vmail health` leaves it
  // out, its daemon and config are not made.
  std::vector<const char*> switches = {};
  // Listens on 127.0.0.1 whatever VMAIL_LISTEN says (a daemon only this
  // server's own daemons talk to).
  bool loopback = false;
};
// smtp, submission, smtps, imap, imaps, pop3, pop3s, managesieve,
// quota-status, resolver, mta-sts, then the spam layer's (redis,
// rspamd-milter, rspamd-controller, postgrey), then vmail-policyd's (policy,
// send-policy), in that order.
extern const std::vector<ServiceSpec> kServices;

// Where the services listen: the address (empty = all addresses) and one port
// per entry of kServices.
struct Endpoints {
  std::string listen;           // VMAIL_LISTEN: an IPv4 or IPv6 address, "" = all
  bool listen_ipv6 = false;     // `listen` is an IPv6 address
  std::vector<uint16_t> ports;  // parallel to kServices; 0 = the service is off
  // VMAIL_SPAM and VMAIL_GREYLIST as given (postgrey runs with both on).
  bool spam = true;
  bool greylist = true;
  uint16_t port(const std::string& service) const;
  bool on(const std::string& service) const { return port(service) != 0; }
  // The address clients use to reach the services: `listen`, or 127.0.0.1
  // when listening on all addresses.
  std::string connect_host() const;
};

// Resolves VMAIL_LISTEN, the port variables, VMAIL_SPAM and VMAIL_GREYLIST.
// kConfig on a port that is not 1-65535, two running services on one port, a
// switch that is not on/off, or an address that is not an IP address.
Result<Endpoints> load_endpoints(const std::map<std::string, std::string>& flags, const EnvReader& env,
                                 const std::map<std::string, std::string>& recorded = {});

// The system's CA bundle (Debian's ca-certificates): what the relay's
// certificate is checked against when VMAIL_RELAY_CA_FILE is not set.
inline constexpr const char* kSystemCaFile = "/etc/ssl/certs/ca-certificates.crt";

// Outbound mail through a relay host (VMAIL_RELAY_HOST, VMAIL_RELAY_USER,
// VMAIL_RELAY_PASSWORD_FILE, VMAIL_RELAY_TLS, VMAIL_RELAY_CA_FILE). `host`
// empty = mail goes straight to each domain's MX. The password itself is
// never kept here: it is read from `password_file` when the map is written
// (read_relay_password).
struct RelaySettings {
  std::string host;           // as Postfix's relayhost wants it: "[name]:port" (no MX lookup)
  std::string user;           // "" = relay without AUTH
  std::string password_file;  // absolute; set exactly when `user` is
  // VMAIL_RELAY_TLS as Postfix's smtp_tls_security_level: "secure" (the
  // default: the certificate must chain to `ca_file` and name the relay host,
  // so the password never goes to an impostor) or "encrypt" (TLS, nothing
  // verified: the explicit opt-out).
  std::string tls_level = "secure";
  // absolute: VMAIL_RELAY_CA_FILE, else kSystemCaFile; "" with "encrypt"
  std::string ca_file;
};

// Everything vmail-launch needs to know.
struct LaunchSettings {
  Settings base;
  Endpoints endpoints;
  std::string mail_domain;  // MAIL_DOMAIN, lowercase A-label
  std::string server_name;  // MAIL_SERVER_NAME, default mail.$MAIL_DOMAIN
  std::string mynetworks;   // VMAIL_MYNETWORKS, Postfix syntax
  // Certificate sources (SSL_CERT_FILE, SSL_KEY_FILE, SSL_CHAIN_FILE) and
  // whether any was given by flag or environment.
  std::string cert_source;
  std::string key_source;
  std::string chain_source;
  bool cert_explicit = false;
  bool key_explicit = false;
  bool chain_explicit = false;
  // VMAIL_CERT_CHECK_INTERVAL: how often the running launcher looks for
  // renewed certificates at the source paths (1-3600 s, default 30).
  int cert_check_interval = 30;
  RelaySettings relay;
  // VMAIL_DNS_RESOLVER: the resolver OpenDKIM asks for DKIM keys, in
  // libunbound's forward-addr form ("127.0.0.1@5353"); "" = the system's
  // (the nameservers in /etc/resolv.conf).
  std::string dns_resolver;
  // VMAIL_DKIM_REQUIRE_SAFE_KEYS: OpenDKIM's RequireSafeKeys. It refuses a
  // key when any folder above it is writable by others, sticky /tmp included
  // (FIELD-NOTES); "no" makes that a warning, e.g. for a root under /tmp.
  bool dkim_require_safe_keys = true;

  // Login bans (VMAIL_BAN_FAILURES, _WINDOW, _TIME) and the networks never
  // banned (VMAIL_BAN_IGNORE, as given: vmail-policyd parses it again).
  BanRules ban;
  std::string ban_ignore;

  // Derived folders and files, all under VMAIL_ROOT.
  std::string queue_dir;           // Postfix queue_directory
  std::string postfix_data_dir;    // Postfix data_directory (owned by postfix)
  std::string dovecot_base_dir;    // Dovecot base_dir (runtime sockets)
  std::string dovecot_state_dir;   // Dovecot state_dir
  std::string cert_dir;            // $VMAIL_ROOT/etc/ssl/certs/mail
  std::string self_signed_dir;     // $VMAIL_STATE_DIR/self-signed
  std::string dh_file;             // $VMAIL_STATE_DIR/dh.pem
  std::string backup_dir;          // $VMAIL_STATE_DIR/backups
  std::string lock_file;           // $VMAIL_STATE_DIR/vmail-launch.pid
  std::string relay_password_map;  // $VMAIL_POSTFIX_DIR/relay_passwords (0600)
  std::string opendkim_run_dir;    // $VMAIL_ROOT/run/opendkim: milter socket and pid file
  std::string milter_run_dir;      // $VMAIL_ROOT/run/vmail-milter: vmail-milter's socket
  std::string unbound_dir;         // $VMAIL_ROOT/etc/unbound: the resolver's config (VMAIL_DANE)
  std::string mta_sts_dir;         // $VMAIL_ROOT/etc/mta-sts: the MTA-STS daemon's config
  // VMAIL_RESOLVER_CONF: an unbound file the resolver includes, "" = none.
  std::string resolver_conf;
  // The spam layer (VMAIL_SPAM: endpoints.spam): rspamd's rendered local
  // configuration (its LOCAL_CONFDIR, over Debian's /etc/rspamd), Redis's
  // config, and their data on the state volume.
  int greylist_delay = 300;     // VMAIL_GREYLIST_DELAY, seconds
  std::string rspamd_dir;       // $VMAIL_ROOT/etc/rspamd: local.d, override.d, the Sieve scripts
  std::string redis_dir;        // $VMAIL_ROOT/etc/redis: redis.conf
  std::string rspamd_run_dir;   // $VMAIL_ROOT/run/rspamd (owned by _rspamd)
  std::string rspamd_db_dir;    // $VMAIL_STATE_DIR/rspamd (owned by _rspamd)
  std::string redis_data_dir;   // $VMAIL_STATE_DIR/redis (owned by redis)
  std::string postgrey_db_dir;  // $VMAIL_STATE_DIR/postgrey (owned by postgrey)
  // vmail-auth-wait beside this program: the checkpassword program Dovecot
  // runs when a users-file lookup misses (cli/auth_wait_main.cc).
  std::string auth_wait_program;
  // $VMAIL_STATE_DIR/auth-policy-nonce (0600): Dovecot's auth_policy_hash_nonce,
  // made once (random) by the launcher and read by Dovecot's config parser.
  std::string policy_nonce_file;
};

// The path of a program installed beside the running one (vmail,
// vmail-milter, vmail-auth-wait beside vmail-launch).
std::string program_beside_this_one(const std::string& name);

// OpenDKIM's milter socket, $VMAIL_ROOT/run/opendkim/opendkim.sock (where
// Postfix connects and `vmail health` checks).
std::string opendkim_socket(const Settings& settings);

// vmail-milter's socket, $VMAIL_ROOT/run/vmail-milter/milter.sock (the From:
// rule for logins, before OpenDKIM on submission and smtps).
std::string vmail_milter_socket(const Settings& settings);

// A service switch (VMAIL_SPAM, VMAIL_GREYLIST, VMAIL_DANE, VMAIL_MTA_STS):
// "on"/"off" or a boolean word; kConfig naming the variable otherwise.
Result<bool> parse_on_off(const std::string& name, const std::string& value);

// Checks VMAIL_DNS_RESOLVER: an IP address with an optional port
// ("127.0.0.1:5353", "[::1]:5353"). Returns libunbound's "ADDRESS@PORT".
Result<std::string> parse_dns_resolver(const std::string& value);

// Loads and checks every launcher setting (the settings table's entries of
// kScopeLaunch: each table check first, then the checks that need more than
// libc). kConfig with one line naming the variable on a missing MAIL_DOMAIN
// or any bad value.
Result<LaunchSettings> load_launch_settings(const std::map<std::string, std::string>& flags, const EnvReader& env);

// Settings the launcher records in the database besides recordable(): the
// listening address and ports, so `vmail health` checks where the server is.
std::map<std::string, std::string> recordable_endpoints(const Endpoints& endpoints);

// Checks VMAIL_RELAY_HOST: `host:port` or `[host]:port`, host a DNS name, an
// IPv4 address or an [IPv6] address, port 1-65535. Returns it as Postfix's
// relayhost: `[host]:port` (`[ipv6:addr]:port`). kConfig naming the variable.
Result<std::string> parse_relay_host(const std::string& value);

// Reads the relay password: the file's one line (a final newline is dropped).
// kConfig naming VMAIL_RELAY_PASSWORD_FILE (never the password) when the file
// cannot be read, is empty, or the password has a line break, another control
// character or leading/trailing blanks (Postfix's map syntax would change it).
Result<std::string> read_relay_password(const std::string& path);

// The relay password map's one line: `[host]:port user:password`.
std::string relay_password_line(const RelaySettings& relay, const std::string& password);

// Checks VMAIL_MYNETWORKS: IPv4 or [IPv6] addresses or networks separated by
// spaces or commas. Returns it normalised to single spaces.
Result<std::string> parse_mynetworks(const std::string& value);

}  // namespace vmail
