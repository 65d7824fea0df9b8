#include "core/settings_table.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "core/ip_network.h"
#include "core/scheme.h"
#include "core/settings.h"

namespace vmail {
namespace {

Status check_id(const std::string& name, const std::string& value) { return parse_id(name, value).status(); }

Status check_scheme(const std::string&, const std::string& value) { return parse_scheme(value).status(); }

Status check_map_type(const std::string& name, const std::string& value) {
  if (value == "hash" || value == "lmdb" || value == "cdb") return Status::Ok();
  return Status(Code::kConfig, name + " " + quote(value) + ": unknown map type (use hash, lmdb or cdb)");
}

Status check_db(const std::string& name, const std::string& value) {
  if (is_postgres_url(value) || !looks_like_url(value)) return Status::Ok();
  // Taken as a file name, `postgresql:/vmail@host/db` or `mysql://…` would
  // become a new, empty SQLite database beside the working directory. Only
  // the scheme is shown: the rest may hold a password.
  std::string start = value.substr(0, value.find(':') + (value.find("://") == value.find(':') ? 3 : 2));
  return Status(Code::kConfig, name + ": " + quote(start + "...") + " is neither a file path nor a postgresql:// URL");
}

Status check_port(const std::string& name, const std::string& value) {
  if (value.empty() || value.size() > 5 || value.find_first_not_of("0123456789") != std::string::npos) {
    return Status(Code::kConfig, name + " " + quote(value) + ": not a port number");
  }
  unsigned long n = std::strtoul(value.c_str(), nullptr, 10);
  if (n == 0 || n > 65535) return Status(Code::kConfig, name + " " + quote(value) + ": port must be 1-65535");
  return Status::Ok();
}

// A whole number of seconds from `low` to `high`.
Status check_seconds(const std::string& name, const std::string& value, long low, long high) {
  if (value.empty() || value.size() > 5 || value.find_first_not_of("0123456789") != std::string::npos) {
    return Status(Code::kConfig, name + " " + quote(value) + ": not a whole number of seconds");
  }
  long n = std::strtol(value.c_str(), nullptr, 10);
  if (n < low || n > high) {
    return Status(Code::kConfig,
                  name + " " + quote(value) + ": must be " + std::to_string(low) + "-" + std::to_string(high) + " s");
  }
  return Status::Ok();
}

Status check_cert_interval(const std::string& name, const std::string& value) {
  return check_seconds(name, value, 1, 3600);
}

// As the exporter reads it (exporters/export.cc lock_timeout).
Status check_lock_timeout(const std::string& name, const std::string& value) {
  char* end = nullptr;
  errno = 0;
  double seconds = std::strtod(value.c_str(), &end);
  if (value.empty() || errno != 0 || *end != '\0' || !(seconds >= 0 && seconds <= 86400)) {
    return Status(Code::kConfig, name + " " + quote(value) + ": not a number of seconds (0 to 86400)");
  }
  return Status::Ok();
}

// As validate.h's parse_boolean reads it.
Status check_boolean(const std::string& name, const std::string& value) {
  std::string lower = value;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* word : {"true", "yes", "1", "on", "false", "no", "0", "off"}) {
    if (lower == word) return Status::Ok();
  }
  return Status(Code::kConfig, name + " " + quote(value) + ": not a boolean (use on/off, true/false, yes/no or 1/0)");
}

Status check_relay_tls(const std::string& name, const std::string& value) {
  if (value == "secure" || value == "encrypt") return Status::Ok();
  return Status(Code::kConfig,
                name + " " + quote(value) + ": must be secure (verify the relay's certificate) or encrypt (do not)");
}

// The service switches (VMAIL_SPAM, VMAIL_GREYLIST, VMAIL_DANE,
// VMAIL_MTA_STS): on/off, and the boolean words check_boolean takes.
Status check_on_off(const std::string& name, const std::string& value) {
  if (check_boolean(name, value).ok()) return Status::Ok();
  return Status(Code::kConfig, name + " " + quote(value) + ": must be on or off");
}

Status check_greylist_delay(const std::string& name, const std::string& value) {
  return check_seconds(name, value, 1, 86400);
}

// A whole number in [min, max], as the abuse controls' settings take it.
Status check_count(const std::string& name, const std::string& value, long min, long max, const char* unit) {
  if (value.empty() || value.size() > 9 || value.find_first_not_of("0123456789") != std::string::npos) {
    return Status(Code::kConfig, name + " " + quote(value) + ": not a whole number" + unit);
  }
  long n = std::strtol(value.c_str(), nullptr, 10);
  if (n < min || n > max) {
    return Status(Code::kConfig,
                  name + " " + quote(value) + ": must be " + std::to_string(min) + "-" + std::to_string(max) + unit);
  }
  return Status::Ok();
}

Status check_ban_failures(const std::string& name, const std::string& value) {
  return check_count(name, value, 1, 1000000, "");
}

Status check_seconds(const std::string& name, const std::string& value) {
  return check_count(name, value, 1, 31536000, " of seconds (at most a year)");
}

Status check_send_limit(const std::string& name, const std::string& value) {
  return check_count(name, value, 1, 100000000, " of recipients per hour");
}

Status check_networks(const std::string& name, const std::string& value) {
  auto list = parse_network_list(value, name);
  if (!list.ok()) return Status(Code::kConfig, list.status().message());
  return Status::Ok();
}

constexpr unsigned kVmail = kScopeVmail;
constexpr unsigned kLaunch = kScopeLaunch;
constexpr unsigned kBoth = kScopeVmail | kScopeLaunch;
constexpr unsigned kServer = kScopeLaunch | kScopeHealth;

// name, flag, scope, fallback, default_note, help, doc, check, recorded, secret, path
const std::vector<SettingInfo> kTable = {
    {"VMAIL_ROOT", "--root", kBoth, "/", "", "prefix of every default path", "", nullptr, false, false, true},
    {"VMAIL_STATE_DIR", "--state-dir", kBoth, "$VMAIL_ROOT/data/state", "",
     "state folder: database, certificates, DH parameters",
     "database, certificates, DH parameters, backups, Postfix's queue", nullptr, false, false, true},
    {"VMAIL_DB", "--db", kBoth, "$VMAIL_STATE_DIR/vmail.db", "", "database file, or a postgresql:// URL",
     "the database, a file path (created mode 0600 by the first command that changes something, migrated "
     "automatically); `postgresql://user@host:port/dbname` keeps the store in PostgreSQL, with a local replica in "
     "`$VMAIL_STATE_DIR/replica.db` (see [More than one machine](#more-than-one-machine-postgresql)); a URL holding a "
     "password is refused, and so is anything else that starts like a URL (`scheme:/…`: `postgresql:/…` with one "
     "slash, `mysql://`, `sqlite://`), exit 78 for every command",
     check_db, false, false, true},
    {"VMAIL_DB_PASSWORD_FILE", "--db-password-file", kBoth, "", "(none; libpq's `PGPASSFILE` works too)",
     "file holding the PostgreSQL password on one line", "the PostgreSQL password, on one line", nullptr, false, false,
     true},
    {"VMAIL_MAIL_DIR", "--mail-dir", kBoth, "$VMAIL_ROOT/var/mail/vhosts", "", "maildir base",
     "maildirs: `<domain>/<local>/Maildir/{cur,new,tmp}`, mode 0700", nullptr, true, false, true},
    {"VMAIL_POSTFIX_DIR", "--postfix-dir", kBoth, "$VMAIL_ROOT/etc/postfix", "", "Postfix folder",
     "exported Postfix maps", nullptr, true, false, true},
    {"VMAIL_DOVECOT_DIR", "--dovecot-dir", kBoth, "$VMAIL_ROOT/etc/dovecot", "", "Dovecot folder",
     "exported Dovecot `users`", nullptr, true, false, true},
    {"VMAIL_OPENDKIM_DIR", "--opendkim-dir", kBoth, "$VMAIL_ROOT/etc/opendkim", "",
     "OpenDKIM folder: exported KeyTable and SigningTable",
     "exported OpenDKIM `KeyTable` and `SigningTable`; the launcher renders `opendkim.conf` and `InternalHosts` "
     "(empty: only logins are signed) there too",
     nullptr, true, false, true},
    {"VMAIL_DKIM_USER", "--dkim-user", kBoth, "opendkim", "", "owner of the DKIM private keys",
     "owner of the DKIM private keys (`$VMAIL_STATE_DIR/dkim/<domain>/<selector>.private`, 0600); when there is no "
     "such user, the vmail uid, with a warning",
     nullptr, false, false, false},
    {"VMAIL_UID", "--uid", kBoth, "5000", "", "owner of maildirs (never 0)", "", check_id, true, false, false},
    {"VMAIL_GID", "--gid", kBoth, "5000", "", "group of maildirs (never 0)", "", check_id, true, false, false},
    {"VMAIL_PASSWORD_SCHEME", "--password-scheme", kBoth, "SHA512-CRYPT", "", "SHA512-CRYPT, BLF-CRYPT or YESCRYPT",
     "`SHA512-CRYPT`, `BLF-CRYPT` or `YESCRYPT` (stored as `{CRYPT}$y$…`)", check_scheme, false, false, false},
    {"VMAIL_MAP_TYPE", "--map-type", kBoth, "hash", "", "Postfix map type: hash, lmdb or cdb",
     "Postfix map type: `hash`, `lmdb`, `cdb`", check_map_type, true, false, false},
    {"VMAIL_EXPORT_LOCK_TIMEOUT", "--export-lock-timeout", kBoth, "30", "",
     "seconds an export waits for another one before it exits 75 (0-86400)", "", check_lock_timeout, false, false,
     false},
    {"MAIL_DOMAIN", "--mail-domain", kLaunch, "", "(required)",
     "primary mail domain, created on first start (required)", "primary mail domain, created on first start", nullptr,
     false, false, false},
    {"MAIL_SERVER_NAME", "--mail-server-name", kLaunch, "mail.$MAIL_DOMAIN", "",
     "server host name (Postfix myhostname, certificate name)",
     "Postfix `myhostname`, name in the self-signed certificate", nullptr, true, false, false},
    {"SSL_CERT_FILE", "--ssl-cert-file", kLaunch, "$VMAIL_STATE_DIR/certificates/$MAIL_DOMAIN/cert.pem", "",
     "certificate",
     "certificate; without it (and the key) a self-signed certificate is made (with a warning): TLS is always on",
     nullptr, false, false, true},
    {"SSL_KEY_FILE", "--ssl-key-file", kLaunch, "$VMAIL_STATE_DIR/certificates/$MAIL_DOMAIN/privkey.pem", "",
     "private key", "", nullptr, false, false, true},
    {"SSL_CHAIN_FILE", "--ssl-chain-file", kLaunch, "$VMAIL_STATE_DIR/certificates/$MAIL_DOMAIN/fullchain.pem", "",
     "certificate with its chain", "", nullptr, false, false, true},
    {"VMAIL_LISTEN", "--listen", kServer, "", "all addresses", "listening address (IPv4 or IPv6); default all", "",
     nullptr, true, false, false},
    {"VMAIL_MYNETWORKS", "--mynetworks", kLaunch, "127.0.0.0/8 [::1]/128", "", "clients that may relay without AUTH",
     "clients that may relay without AUTH (their mail is not DKIM-signed): IPv4 or `[IPv6]` addresses and networks, "
     "separated by spaces or commas. An open relay is refused (exit 78): an IPv4 network wider than `/8`, or an "
     "IPv6 one wider than `/16` outside unique local `fc00::/7` (`0.0.0.0/0`, `[::]/0`, `0.0.0.0/1`, …)",
     nullptr, false, false, false},
    {"VMAIL_SMTP_PORT", "--smtp-port", kServer, "25", "", "SMTP port", "", check_port, true, false, false},
    {"VMAIL_SUBMISSION_PORT", "--submission-port", kServer, "587", "", "submission port (STARTTLS + AUTH)", "",
     check_port, true, false, false},
    {"VMAIL_SMTPS_PORT", "--smtps-port", kServer, "465", "", "SMTPS port, implicit TLS", "", check_port, true, false,
     false},
    {"VMAIL_IMAP_PORT", "--imap-port", kServer, "143", "", "IMAP port, STARTTLS", "", check_port, true, false, false},
    {"VMAIL_IMAPS_PORT", "--imaps-port", kServer, "993", "", "IMAPS port, implicit TLS", "", check_port, true, false,
     false},
    {"VMAIL_POP3_PORT", "--pop3-port", kServer, "110", "", "POP3 port, STLS", "", check_port, true, false, false},
    {"VMAIL_POP3S_PORT", "--pop3s-port", kServer, "995", "", "POP3S port, implicit TLS", "", check_port, true, false,
     false},
    {"VMAIL_MANAGESIEVE_PORT", "--managesieve-port", kServer, "4190", "",
     "ManageSieve port (STARTTLS; AUTH only after TLS)", "", check_port, true, false, false},
    {"VMAIL_QUOTA_STATUS_PORT", "--quota-status-port", kServer, "12340", "",
     "Dovecot's quota-status port on 127.0.0.1, asked by Postfix at RCPT", "", check_port, true, false, false},
    {"VMAIL_DANE", "--dane", kServer, "on", "",
     "on: outbound mail checks DANE (TLSA records, validated by a local unbound); off: no resolver",
     "`on`: the launcher runs unbound, a validating resolver, on 127.0.0.1 (`VMAIL_RESOLVER_PORT`), and Postfix's "
     "outbound TLS is `dane`: a destination with DNSSEC-signed TLSA records gets verified TLS or the mail waits; "
     "others get opportunistic TLS. Postfix asks the resolvers of `/etc/resolv.conf`, so that file must name "
     "`127.0.0.1` with `options trust-ad` (compose.yaml: `dns: 127.0.0.1`). See [Transport "
     "security](#transport-security)",
     check_on_off, true, false, false},
    {"VMAIL_RESOLVER_PORT", "--resolver-port", kServer, "53", "",
     "port of the validating resolver (unbound) on 127.0.0.1, with VMAIL_DANE=on",
     "port of the validating resolver on 127.0.0.1 (with `VMAIL_DANE=on`); `/etc/resolv.conf` can name only port 53",
     check_port, true, false, false},
    {"VMAIL_RESOLVER_CONF", "--resolver-conf", kLaunch, "", "(none)",
     "an unbound config file the resolver includes (stub zones, trust anchors)",
     "an unbound configuration file the resolver includes: stub or auth zones and trust anchors for names the public "
     "DNS does not have",
     nullptr, false, false, true},
    {"VMAIL_MTA_STS", "--mta-sts", kServer, "on", "",
     "on: outbound mail honours each domain's MTA-STS policy (postfix-mta-sts-resolver)",
     "`on`: the launcher runs postfix-mta-sts-resolver on 127.0.0.1 (`VMAIL_MTA_STS_PORT`) and Postfix asks it for "
     "each "
     "destination's MTA-STS policy (RFC 8461): an `enforce` policy means verified TLS to a listed MX or the mail "
     "waits; `testing` and no policy change nothing",
     check_on_off, true, false, false},
    {"VMAIL_MTA_STS_PORT", "--mta-sts-port", kServer, "8461", "",
     "port of the MTA-STS policy daemon on 127.0.0.1, with VMAIL_MTA_STS=on", "", check_port, true, false, false},
    {"VMAIL_POLICY_PORT", "--policy-port", kServer, "12341", "",
     "vmail-policyd's login-ban port on 127.0.0.1, asked by Dovecot's auth (HTTP)", "", check_port, true, false, false},
    {"VMAIL_SEND_POLICY_PORT", "--send-policy-port", kServer, "12342", "",
     "vmail-policyd's send-limit port on 127.0.0.1, asked by Postfix at RCPT", "", check_port, true, false, false},
    {"VMAIL_BAN_FAILURES", "--ban-failures", kLaunch, "10", "",
     "failed logins from one address within VMAIL_BAN_WINDOW that ban it",
     "failed logins (IMAP, POP3, ManageSieve, SMTP AUTH) from one address within `VMAIL_BAN_WINDOW` that ban it for "
     "`VMAIL_BAN_TIME`. See [Abuse control](#abuse-control-login-bans-and-send-limits)",
     check_ban_failures, false, false, false},
    {"VMAIL_BAN_WINDOW", "--ban-window", kLaunch, "600", "", "seconds in which VMAIL_BAN_FAILURES failures ban", "",
     check_seconds, false, false, false},
    {"VMAIL_BAN_TIME", "--ban-time", kBoth, "3600", "", "seconds a ban lasts (also `vmail ban add` without --for)", "",
     check_seconds, false, false, false},
    {"VMAIL_BAN_IGNORE", "--ban-ignore", kLaunch, "127.0.0.1/32,::1/128", "", "networks never banned",
     "networks never banned: IPv4 or IPv6 addresses or `ADDRESS/PREFIX` networks (no host bits set), separated by "
     "commas or spaces; empty: none",
     check_networks, false, false, false},
    {"VMAIL_SEND_LIMIT", "--send-limit", kBoth, "500", "",
     "recipients a login may send to per hour (`vmail user limit` per user)",
     "recipients a login may send to in any hour; more are refused at RCPT with `451 4.7.1`. Per user: "
     "`vmail user limit ADDR --per-hour N|none|default`",
     check_send_limit, false, false, false},
    {"VMAIL_QUEUE_DIR", "--queue-dir", kLaunch, "$VMAIL_STATE_DIR/queue", "", "Postfix's queue folder",
     "Postfix's queue: on the state volume, so queued mail survives a re-created container", nullptr, false, false,
     true},
    {"VMAIL_CERT_CHECK_INTERVAL", "--cert-check-interval", kLaunch, "30", "",
     "seconds between looks for certificates renewed at the source paths (1-3600)", "", check_cert_interval, false,
     false, false},
    {"VMAIL_RELAY_HOST", "--relay-host", kLaunch, "", "(none: straight to each domain's MX)",
     "send outbound mail through this host:port (STARTTLS required)",
     "send all outbound mail through this relay, `host:port` or `[host]:port` (host: a name with a dot, IPv4, or "
     "IPv6 as `[addr]:port`); STARTTLS required. See [Relay host](#relay-host)",
     nullptr, false, false, false},
    {"VMAIL_RELAY_USER", "--relay-user", kLaunch, "", "(none)",
     "SASL user name at the relay host (with VMAIL_RELAY_PASSWORD_FILE)",
     "SASL login at the relay; with `VMAIL_RELAY_PASSWORD_FILE`, both or neither", nullptr, false, false, false},
    {"VMAIL_RELAY_PASSWORD_FILE", "--relay-password-file", kLaunch, "", "(none)",
     "file holding the relay password on one line (never logged)",
     "the file holding the relay password on one line (with `VMAIL_RELAY_USER`); the password is never logged", nullptr,
     false, false, true},
    {"VMAIL_RELAY_TLS", "--relay-tls", kLaunch, "secure", "",
     "secure: the relay's certificate must chain to the CA file and name the relay host; encrypt: TLS without "
     "that check",
     "`secure`: the relay's certificate must chain to a trusted CA and name the relay host, or nothing (and no "
     "password) is sent; `encrypt`: TLS without that check, an explicit opt-out (logged as a warning at start)",
     check_relay_tls, false, false, false},
    {"VMAIL_RELAY_CA_FILE", "--relay-ca-file", kLaunch, "", "the system CAs (`/etc/ssl/certs/ca-certificates.crt`)",
     "CA certificates that must sign the relay's certificate; default: the system's",
     "PEM CA certificates the relay's certificate must chain to (with `VMAIL_RELAY_TLS=secure`; refused with "
     "`encrypt`)",
     nullptr, false, false, true},
    {"VMAIL_DKIM_REQUIRE_SAFE_KEYS", "--dkim-require-safe-keys", kLaunch, "yes", "",
     "yes: OpenDKIM refuses a key whose folder chain others can write; no: only warns",
     "OpenDKIM refuses to sign with a key when a folder above it is writable by others, and would defer all mail "
     "from logins: the launcher checks the key folder's chain at start and refuses (exit 78, one line naming the "
     "folder) instead. A sticky root-owned folder such as `/tmp` is safe in fact (OpenDKIM counts it as unsafe): the "
     "launcher says so in one line and gives OpenDKIM `RequireSafeKeys no`. `no` only warns",
     check_boolean, false, false, false},
    {"VMAIL_DNS_RESOLVER", "--dns-resolver", kLaunch, "", "the system's (`/etc/resolv.conf`)",
     "the resolver OpenDKIM uses to look up DKIM keys (ADDRESS[:PORT])",
     "the resolver OpenDKIM uses to look up DKIM keys, `ADDRESS[:PORT]` (`[IPv6]:PORT`)", nullptr, false, false, false},
    // Spam filtering and greylisting (SPEC "Mail policy": abuse control).
    {"VMAIL_SPAM", "--spam", kServer, "on", "",
     "on: rspamd scores inbound mail on port 25 (with Redis), postgrey greylists; off: none of them run",
     "`on`: rspamd (a milter on port 25, with Redis on the state volume) scores inbound mail, refuses a high score "
     "(GTUBE) with 5.7.1, adds `X-Spamd-Result`/`X-Spam-Status` headers, and a global Sieve rule files spam into "
     "`Junk`; moving a message into or out of `Junk` over IMAP trains it. `off`: no rspamd, Redis or greylisting. "
     "See [Spam filtering](#spam-filtering-and-greylisting)",
     check_on_off, true, false, false},
    {"VMAIL_GREYLIST", "--greylist", kServer, "on", "",
     "on: postgrey greylists port 25 clients neither authenticated nor in VMAIL_MYNETWORKS (with VMAIL_SPAM=on)",
     "`on` (with `VMAIL_SPAM=on`): postgrey defers the first message of an unknown (client, sender, recipient) on "
     "port 25 from a client neither authenticated nor in `VMAIL_MYNETWORKS`; `off`: no greylisting",
     check_on_off, true, false, false},
    {"VMAIL_GREYLIST_DELAY", "--greylist-delay", kLaunch, "300", "",
     "seconds before a greylisted sender's retry is accepted (1-86400)", "", check_greylist_delay, false, false, false},
    {"VMAIL_REDIS_PORT", "--redis-port", kServer, "6379", "", "Redis port on 127.0.0.1 (rspamd's store)", "",
     check_port, true, false, false},
    {"VMAIL_RSPAMD_MILTER_PORT", "--rspamd-milter-port", kServer, "11332", "",
     "rspamd's milter port on 127.0.0.1, asked by Postfix for mail on port 25", "", check_port, true, false, false},
    {"VMAIL_RSPAMD_CONTROLLER_PORT", "--rspamd-controller-port", kServer, "11334", "",
     "rspamd's controller port on 127.0.0.1 (rspamc learn_spam, learn_ham, stat)", "", check_port, true, false, false},
    {"VMAIL_POSTGREY_PORT", "--postgrey-port", kServer, "10023", "",
     "postgrey's policy port on 127.0.0.1, asked by Postfix at RCPT on port 25", "", check_port, true, false, false},
};

// Replaces $VMAIL_ROOT, $VMAIL_STATE_DIR and $MAIL_DOMAIN in a fallback.
std::string expand(std::string text, const std::map<std::string, std::string>& values) {
  for (const char* name : {"VMAIL_STATE_DIR", "VMAIL_ROOT", "MAIL_DOMAIN"}) {
    std::string token = std::string("$") + name;
    auto it = values.find(name);
    if (it == values.end() || (it->second.empty() && std::string(name) != "VMAIL_ROOT")) continue;
    for (size_t at; (at = text.find(token)) != std::string::npos;) text.replace(at, token.size(), it->second);
  }
  return text;
}

}  // namespace

const std::vector<SettingInfo>& settings_table() { return kTable; }

const SettingInfo* find_setting(const std::string& name) {
  for (const auto& info : kTable) {
    if (name == info.name) return &info;
  }
  return nullptr;
}

std::vector<std::string> recorded_setting_names() {
  std::vector<std::string> names;
  for (const auto& info : kTable) {
    if (info.recorded) names.emplace_back(info.name);
  }
  return names;
}

std::string setting_help(const SettingInfo& info) { return std::string(info.help) + " (env " + info.name + ")"; }

Status check_setting(const SettingInfo& info, const std::string& value) {
  return info.check == nullptr ? Status::Ok() : info.check(info.name, value);
}

const char* source_name(SettingSource source) {
  switch (source) {
    case SettingSource::kDefault: return "default";
    case SettingSource::kEnvironment: return "environment";
    case SettingSource::kFlag: return "flag";
    case SettingSource::kDatabase: return "database";
  }
  return "default";
}

Result<std::vector<EffectiveSetting>> effective_settings(
    const std::vector<SettingInfo>& table, const std::map<std::string, std::string>& flags,
    const std::function<std::optional<std::string>(const std::string&)>& env,
    const std::map<std::string, std::string>& recorded) {
  std::vector<EffectiveSetting> out;
  std::map<std::string, std::string> values;  // for the fallbacks that name another setting
  for (const auto& info : table) {
    EffectiveSetting e{&info, "", SettingSource::kDefault};
    if (auto it = flags.find(info.name); it != flags.end() && !it->second.empty()) {
      e = {&info, it->second, SettingSource::kFlag};
    } else if (auto v = env(info.name)) {
      e = {&info, *v, SettingSource::kEnvironment};
    } else if (auto r = recorded.find(info.name); info.recorded && r != recorded.end() && !r->second.empty()) {
      e = {&info, r->second, SettingSource::kDatabase};
    }
    if (e.source != SettingSource::kDefault) {
      Status st = check_setting(info, e.value);
      if (!st.ok()) {
        return Status(Code::kConfig, (e.source == SettingSource::kDatabase ? "recorded " : "") + st.message());
      }
      if (info.path && !is_postgres_url(e.value)) e.value = absolute_path(e.value);
    } else {
      e.value = expand(info.fallback, values);
    }
    if (std::string(info.name) == "VMAIL_ROOT") {
      // "/" prefixes nothing: $VMAIL_ROOT/etc/postfix is /etc/postfix.
      std::string root = e.value;
      while (!root.empty() && root.back() == '/') root.pop_back();
      values[info.name] = root;
    } else {
      values[info.name] = e.value;
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::string shown_value(const EffectiveSetting& setting) {
  if (setting.info->secret && !setting.value.empty()) return "(set)";
  return setting.value;
}

std::vector<std::string> config_lines(const std::vector<EffectiveSetting>& settings, bool non_default) {
  std::vector<std::string> lines;
  for (const auto& s : settings) {
    if (non_default && s.source == SettingSource::kDefault) continue;
    std::string value = shown_value(s);
    lines.push_back(std::string(s.info->name) + " =" + (value.empty() ? "" : " " + value) + " # " +
                    source_name(s.source));
  }
  return lines;
}

std::string settings_markdown(const std::vector<SettingInfo>& table, unsigned scope, unsigned exclude) {
  std::string out = "| variable | flag | default | meaning |\n| --- | --- | --- | --- |\n";
  for (const auto& info : table) {
    if ((info.scope & scope) == 0 || (info.scope & exclude) != 0) continue;
    std::string fallback = info.fallback;
    if (fallback.rfind("$VMAIL_ROOT", 0) == 0) fallback = fallback.substr(11);  // "prefixes every default path"
    std::string def = fallback.empty() ? "" : "`" + fallback + "`";
    if (*info.default_note != '\0') def += (def.empty() ? "" : " ") + std::string(info.default_note);
    std::string doc = *info.doc != '\0' ? info.doc : info.help;
    out += std::string("| `") + info.name + "` | `" + info.flag + "` | " + def + " | " + doc + " |\n";
  }
  return out;
}

}  // namespace vmail
