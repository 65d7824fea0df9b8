// Postfix and Dovecot configuration for the launcher: the Mustache templates
// under templates/ (compiled into the program), rendered with
// kainjow::mustache from the launcher settings, written atomically and
// checked with the daemons' own tools.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "launch/launch_settings.h"
#include "launch/tls.h"

namespace vmail {

struct EmbeddedTemplate {
  std::string name;  // path below templates/ without ".mustache", e.g. "postfix/main.cf"
  std::string text;
};

// The TLS 1.2 ciphers every service offers (SPEC "Mail policy": ECDHE key
// exchange and AEAD only): Mozilla's "intermediate" list without its DHE
// suites, in OpenSSL's names, best first. Postfix's tls_high_cipherlist and
// Dovecot's ssl_cipher_list.
inline constexpr const char* kTlsCipherList =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// The templates compiled into the program (generated from templates/).
const std::vector<EmbeddedTemplate>& embedded_templates();

// The values the templates use, by name (all plain strings, already checked:
// no newlines). Exposed so a test can check every template variable is set.
std::map<std::string, std::string> template_values(const LaunchSettings& settings, const TlsFiles& tls);

struct ConfigFile {
  std::string path;  // where it is written
  std::string content;
  mode_t mode = 0644;  // 0755 for a script a daemon runs (the spam learning script)
};

// The template sections (`{{#spam}}`, `{{#greylist}}`): VMAIL_SPAM, and
// VMAIL_GREYLIST with VMAIL_SPAM.
std::map<std::string, bool> template_switches(const LaunchSettings& settings);

// Renders every template, plus OpenDKIM's resolver file when
// VMAIL_DNS_RESOLVER is set. kInternal on a template syntax error.
Result<std::vector<ConfigFile>> render_configs(const LaunchSettings& settings, const TlsFiles& tls);

// Writes the files that changed (0644, atomically); returns the paths written.
Result<std::vector<std::string>> write_configs(const std::vector<ConfigFile>& files);

// The relay password map (smtp_sasl_password_maps): with a relay user, reads
// the password file again (so SIGHUP picks up a new password) and writes
// settings.relay_password_map, mode 0600, with its database (built like the
// exported maps); without one, removes any map an earlier start left. True
// when a file was written or removed. kConfig naming the password file (never
// the password) when it cannot be read; kCantCreate when the map cannot be written.
Result<bool> write_relay_password_map(const LaunchSettings& settings);

// `postfix -c DIR check` (which also creates the queue tree),
// `doveconf -c FILE -n` and `opendkim -n -x FILE`; with VMAIL_SPAM=on,
// `sievec` of the global spam Sieve scripts (spam_sieve_scripts). kConfig with the tool's
// first complaint on failure; Postfix warnings are returned through *warnings.
Status validate_configs(const LaunchSettings& settings, std::vector<std::string>* warnings);

// The Dovecot main config file and the environment handed to every daemon
// and helper the launcher runs (a fixed PATH, nothing inherited).
std::string dovecot_config_file(const LaunchSettings& settings);
// OpenDKIM's config file and, when VMAIL_DNS_RESOLVER is set, the libunbound
// configuration it names (both in opendkim_dir).
std::string opendkim_config_file(const LaunchSettings& settings);
std::string opendkim_resolver_file(const LaunchSettings& settings);
// The follower's settings (templates/follower), with a PostgreSQL VMAIL_DB.
std::string follower_config_file(const LaunchSettings& settings);
// With VMAIL_DANE=on and no relay: a warning when /etc/resolv.conf does
// not send Postfix's lookups to the launcher's resolver (first nameserver
// 127.0.0.1, resolver on port 53), since DANE then never applies; else "".
std::string dane_resolver_warning(const LaunchSettings& settings);
// The resolver's (VMAIL_DANE) and the MTA-STS daemon's config files.
std::string unbound_config_file(const LaunchSettings& settings);
std::string mta_sts_config_file(const LaunchSettings& settings);
std::vector<std::string> daemon_environment();
// Redis's config ($VMAIL_ROOT/etc/redis/redis.conf) and the global Sieve
// scripts of the spam layer (Junk filing, learning), with VMAIL_SPAM=on.
std::string redis_config_file(const LaunchSettings& settings);
std::vector<std::string> spam_sieve_scripts(const LaunchSettings& settings);

}  // namespace vmail
