// DKIM keys as the store and the exporter see them (issue 13): names,
// selector rules, where the private key files live, and the DNS records a
// domain should publish. No OpenSSL here (vmail_core must not link it, see
// src/dkim/ for key generation); every function is pure and thread-safe
// except dkim_key_files(), which looks up a system user.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/files.h"
#include "core/settings.h"
#include "core/status.h"

namespace vmail {

enum class DkimAlgorithm { kRsa, kEd25519 };
enum class DkimState { kActive, kRetired };

// "rsa" / "ed25519" (the DNS record's k= and the database's value).
std::string_view dkim_algorithm_name(DkimAlgorithm algorithm);
// kBadInput naming `field` for anything but rsa or ed25519 (any case).
Result<DkimAlgorithm> parse_dkim_algorithm(std::string_view text, std::string_view field = "--algorithm");
std::string_view dkim_state_name(DkimState state);  // "active" / "retired"

struct DkimKey {
  std::string domain;
  std::string selector;
  DkimAlgorithm algorithm = DkimAlgorithm::kRsa;
  std::string public_key;  // base64: DER SubjectPublicKeyInfo (rsa), raw 32 bytes (ed25519)
  DkimState state = DkimState::kActive;
  std::string created;  // UTC, YYYY-MM-DDTHH:MM:SSZ
};

// A key made by src/dkim (generate_dkim_key) for the store to keep: the
// private key as PEM (PKCS#8) for its file, the public key for the row.
struct DkimKeyMaterial {
  DkimAlgorithm algorithm = DkimAlgorithm::kRsa;
  std::string private_pem;
  std::string public_key;
  std::string selector;  // "" = the date rule (dkim_selector_for)
};

// A selector is one DNS label: a-z 0-9 and '-', 1-63 characters, not
// starting or ending with '-'. Uppercase is lowered. kBadInput naming `field`.
Result<std::string> normalize_selector(std::string_view text, std::string_view field = "--selector");

// The date rule: `s<YYYYMMDD>` of `now` in UTC, then `-2`, `-3`... while
// `taken` says the name is used.
std::string dkim_selector_for(std::time_t now, const std::vector<std::string>& taken);

// Where the private keys live and who owns them: `<state_dir>/dkim`, a
// folder of root's (0750, group VMAIL_DKIM_USER's group) so that opendkim
// owns nothing root writes into; in it one folder per domain (0700) and the
// key files (0600), owned by VMAIL_DKIM_USER (default `opendkim`), or by
// the vmail uid/gid when that user does not exist (`warning` then says so;
// the caller prints it once).
//
// Every access goes through the file layer (files.h Dir): the domain and
// the selector come from a store row, so both are checked as a domain and a
// selector before they become path components (a bad row is refused,
// kInternal), and a symlink planted in the domain folder is never followed.
struct DkimKeyFiles {
  std::string dir;
  std::optional<uid_t> owner;
  std::optional<gid_t> group;
  std::string warning;
  // `<dir>/<domain>/<selector>.private`
  std::string path(const std::string& domain, const std::string& selector) const;
  FileOptions file_options() const { return FileOptions{0600, owner, group}; }

  // Writes (atomically) the private key of `domain`/`selector`, making the
  // folders when missing.
  Status write_key(const std::string& domain, const std::string& selector, const std::string& pem) const;
  // The private key, or nullopt when its file is missing.
  Result<std::optional<std::string>> read_key(const std::string& domain, const std::string& selector) const;
  // True when the key file exists (false for a bad domain or selector).
  bool has_key(const std::string& domain, const std::string& selector) const;
  // Removes the key file; a missing one is fine.
  Status remove_key(const std::string& domain, const std::string& selector) const;
  // The top folder, made when missing and (as root) made root's again when
  // an earlier version left it to the key owner.
  Result<Dir> open_top() const;
  // The domain's folder; nullopt when it (or the top folder) is missing and
  // `create` is false.
  Result<std::optional<Dir>> open_domain(const std::string& domain, bool create) const;
};
DkimKeyFiles dkim_key_files(const Settings& settings, const EnvReader& env);

// True when `domain` and `selector` are safe as the two path components of
// a key file: a domain exactly as the store keeps it (row_safe_domain) and a
// selector exactly as normalize_selector gives it.
bool dkim_key_names_safe(std::string_view domain, std::string_view selector);

// Keys for the store to add (Store::add_domain, add_alias_domain,
// add_dkim_keys): where their files go, the keys, and the time the date rule
// names selectors by.
struct NewDkimKeys {
  DkimKeyFiles files;
  std::vector<DkimKeyMaterial> keys;
  std::time_t now = 0;
};

// The key file path the exporter writes in KeyTable (same rule, no lookup).
std::string dkim_key_path(const Settings& settings, const std::string& domain, const std::string& selector);

// The TXT value of a key: `v=DKIM1; k=<alg>; p=<public key>`.
std::string dkim_txt_value(const DkimKey& key);

// A TXT value cut into character-strings of at most `limit` bytes (RFC 1035
// 3.3: each is at most 255 bytes), in order; one empty string for "".
std::vector<std::string> split_txt(std::string_view value, size_t limit = 255);

// One record of `vmail domain dns`.
struct DnsRecord {
  std::string name;  // absolute, with the trailing dot
  std::string type;  // MX, TXT, SRV
  int ttl = 3600;
  std::string value;                                // as in a zone file, TXT unquoted and whole
  std::optional<std::vector<std::string>> strings;  // TXT only: the quoted pieces
  std::string zone_line() const;                    // `name ttl IN type value` ready to paste
};

// What the records point at: the server name and the ports the launcher
// recorded (by service name: smtps, submission, imaps, pop3s).
struct DnsTarget {
  std::string server_name;
  std::map<std::string, uint16_t> ports;
};

// MX, SPF, one TXT per listed key (active and retired), DMARC, MTA-STS
// (`_mta-sts` TXT with the policy's id, and `mta-sts` CNAME to the server:
// the host the policy is fetched from over HTTPS), TLS-RPT (`_smtp._tls`,
// reports to postmaster@) and the RFC 6186/8314 SRV records, in that order.
// `mta_sts_mode` is the policy's mode (its id changes with it).
std::vector<DnsRecord> dns_records(const std::string& domain, const DnsTarget& target, const std::vector<DkimKey>& keys,
                                   const std::string& mta_sts_mode = "testing");

// The MTA-STS policy file (RFC 8461 3.2, CRLF lines) to publish at
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt: `mode` (testing, enforce
// or none), the server as the one MX, max_age one week.
std::string mta_sts_policy(const DnsTarget& target, const std::string& mode);

// The policy's id for the `_mta-sts` TXT record: 16 hex digits of a hash of
// the policy text, so it changes exactly when the policy does.
std::string mta_sts_policy_id(const std::string& policy);

}  // namespace vmail
