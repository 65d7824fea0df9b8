// Settings: environment variables, overridden by CLI flags of the same name,
// and for the export settings the values the launcher recorded in the
// database (SPEC "Paths and settings").
//
// Resolution order for each setting: flag, environment, recorded value (export
// settings only), default. VMAIL_ROOT prefixes every default path.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/scheme.h"
#include "core/status.h"

namespace vmail {

// Reads one environment variable; tests pass a map instead of the real environment.
using EnvReader = std::function<std::optional<std::string>(const std::string& name)>;
EnvReader process_env();
EnvReader map_env(std::map<std::string, std::string> values);

struct Settings {
  std::string root;       // VMAIL_ROOT, absolute, no trailing slash ("" for /)
  std::string state_dir;  // VMAIL_STATE_DIR
  std::string db;         // VMAIL_DB, or with a PostgreSQL VMAIL_DB the node's replica
  // VMAIL_DB=postgresql://… (SPEC "Beyond one machine"): the shared store's
  // URL as given; empty for a SQLite store. Not checked here (core does not
  // link libpq): pg::check_url (src/pg/url.h) refuses a password in it or a
  // remote server without verified TLS, and every program that uses it calls
  // that first. `db` is then
  // the node's local replica, $VMAIL_STATE_DIR/replica.db, which every local
  // reader (exporters, NSS, health) uses as it would the SQLite store.
  std::string upstream;
  std::string db_password_file;          // VMAIL_DB_PASSWORD_FILE (libpq also reads PGPASSFILE)
  std::string mail_dir;                  // VMAIL_MAIL_DIR
  std::string postfix_dir;               // VMAIL_POSTFIX_DIR
  std::string dovecot_dir;               // VMAIL_DOVECOT_DIR
  std::string opendkim_dir;              // VMAIL_OPENDKIM_DIR: OpenDKIM's config, KeyTable, SigningTable
  uint32_t uid = 5000;                   // VMAIL_UID
  uint32_t gid = 5000;                   // VMAIL_GID
  Scheme scheme = Scheme::kSha512Crypt;  // VMAIL_PASSWORD_SCHEME
  std::string map_type = "hash";         // VMAIL_MAP_TYPE
  int64_t ban_time = 3600;               // VMAIL_BAN_TIME: seconds a ban lasts
  int64_t send_limit = 500;              // VMAIL_SEND_LIMIT: recipients per hour of a login

  // Names of the settings given by flag or environment (not defaulted).
  std::vector<std::string> explicit_names;
  bool is_explicit(const std::string& name) const;

  // Prefixes an absolute default path with the root.
  std::string rooted(const std::string& path) const { return root + path; }
};

// True for a VMAIL_DB naming a PostgreSQL database (postgresql:// or postgres://).
bool is_postgres_url(const std::string& value);

// True for a value that starts like a URL: a scheme (a letter, then letters,
// digits, `+`, `-` or `.`), a colon and a slash (`mysql://`, `postgresql:/`,
// `sqlite://`, `file:/`). load_settings refuses such a VMAIL_DB unless it is
// a PostgreSQL URL, rather than taking it for a file name.
bool looks_like_url(const std::string& value);

// Loads settings: every entry of settings_table() that `vmail` takes
// (kScopeVmail). `flags` maps variable names (e.g. "VMAIL_DB") to flag values.
// kConfig on a value the table's check refuses (uid/gid 0 or not a number,
// unknown map type or scheme, a URL that is not PostgreSQL's, ...).
Result<Settings> load_settings(const std::map<std::string, std::string>& flags, const EnvReader& env);

// Applies recorded export settings to those not given by flag or environment.
Status apply_recorded(Settings& settings, const std::map<std::string, std::string>& recorded);

// The export settings as name -> value, for recording.
std::map<std::string, std::string> recordable(const Settings& settings);

// Strict decimal parse of a uid/gid: 1..4294967294, digits only.
Result<uint32_t> parse_id(const std::string& name, const std::string& value);

// Turns a relative path absolute against the working directory; drops trailing slashes.
std::string absolute_path(const std::string& path);

}  // namespace vmail
