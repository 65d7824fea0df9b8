// The one table of settings (issue 24 item 1, in the manner of Postfix's
// VAR_/DEF_ pairs): every variable vmail or vmail-launch reads, with its flag,
// help text, default, check, which programs take it, whether the launcher
// records it in the database and whether its value is a secret. Everything
// else is generated from it: load_settings' lookups and checks, the setting
// flags of `vmail`, `vmail health` and `vmail-launch` (and their --help),
// `vmail config`, and the settings tables of README.md (settings_markdown;
// settings_table_test compares).
//
// libc only (part of vmail_base): the checks here are the ones that need no
// other library. A value is checked again where it is used (the launcher's
// relay, network and domain checks), so `vmail config` reports early what
// vmail-launch would refuse, never less.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace vmail {

// Which programs take a setting as a flag (a bit set).
enum SettingScope : unsigned {
  kScopeVmail = 1,   // `vmail` global flags (every command)
  kScopeLaunch = 2,  // `vmail-launch`
  kScopeHealth = 4,  // `vmail health` (where the server listens)
};

// Checks one value; kConfig with one line naming the setting ("VMAIL_UID '0':
// must not be 0 (root)").
using SettingCheck = Status (*)(const std::string& name, const std::string& value);

struct SettingInfo {
  const char* name;  // the environment variable, "VMAIL_MAIL_DIR"
  const char* flag;  // its flag, "--mail-dir" (lowercase, without VMAIL_)
  unsigned scope;    // SettingScope bits
  // The default as `vmail config` shows it: "" = none. `$VMAIL_ROOT`,
  // `$VMAIL_STATE_DIR` and `$MAIL_DOMAIN` stand for those settings' values.
  const char* fallback;
  // What README's default column adds (Markdown), or says instead when the
  // default has no value ("" = the fallback alone).
  const char* default_note;
  const char* help;    // one line for --help
  const char* doc;     // README's meaning column (Markdown); "" = help
  SettingCheck check;  // nullptr: any value (a path, a name checked where used)
  bool recorded;       // the launcher records it in the database's settings table
  bool secret;         // its value is never shown (`vmail config` prints "(set)")
  bool path;           // a file or folder: made absolute against the working directory
};

// Every setting, in the order --help, `vmail config` and README list them.
const std::vector<SettingInfo>& settings_table();
// The entry of `name`, or nullptr.
const SettingInfo* find_setting(const std::string& name);
// The names the launcher records in the database (SettingInfo::recorded).
std::vector<std::string> recorded_setting_names();
// The --help line of a setting: its help and "(env NAME)".
std::string setting_help(const SettingInfo& info);
// Runs the entry's check on `value` (Ok without a check).
Status check_setting(const SettingInfo& info, const std::string& value);

// Where a value came from, as `vmail config` names it.
enum class SettingSource { kDefault, kEnvironment, kFlag, kDatabase };
const char* source_name(SettingSource source);

struct EffectiveSetting {
  const SettingInfo* info;
  std::string value;  // "" = none; for a secret the real value (shown as "(set)")
  SettingSource source;
};

// The value and source of every entry of `table`: flag, then environment,
// then (recorded entries only) the database's `recorded` values, then the
// default, expanded. `env` returns nullopt for an unset or empty variable.
// kConfig (one line naming it) for the first flag or environment value its
// check refuses; recorded values are checked the same way.
Result<std::vector<EffectiveSetting>> effective_settings(
    const std::vector<SettingInfo>& table, const std::map<std::string, std::string>& flags,
    const std::function<std::optional<std::string>(const std::string&)>& env,
    const std::map<std::string, std::string>& recorded);

// `vmail config`'s lines, "NAME = VALUE # source" ("NAME = # default" when
// unset), secrets as "(set)";
// `non_default` keeps only those not from the default (`-n`).
std::vector<std::string> config_lines(const std::vector<EffectiveSetting>& settings, bool non_default);
// The value as `vmail config` shows it: "(set)" for a secret, "" unset.
std::string shown_value(const EffectiveSetting& setting);

// The README rows of the entries whose scope has any bit of `scope` and none
// of `exclude`: a Markdown table, "| variable | flag | default | meaning |".
std::string settings_markdown(const std::vector<SettingInfo>& table, unsigned scope, unsigned exclude);

}  // namespace vmail
