// The settings table (core/settings_table.h) on the command line: the
// setting flags of `vmail`, `vmail health` and `vmail-launch`, generated from
// the table (no flag is listed by hand), and `vmail config`'s JSON.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "core/settings_table.h"

namespace vmail::cli {

// Adds one option per entry of `table` whose scope has a bit of `scope`, in
// the group "Settings", its value stored in flags[NAME].
void add_setting_flags(CLI::App& app, std::map<std::string, std::string>& flags, unsigned scope,
                       const std::vector<SettingInfo>& table = settings_table());

// Puts each setting given by flag into this process's environment, so code
// that reads the environment itself (the exporter's lock timeout, the DKIM
// key owner) sees the flag too. Flags override the environment anyway.
void export_setting_flags(const std::map<std::string, std::string>& flags);

// `vmail config --json`: {"NAME": {"value": ..., "source": ...}, ...};
// a secret's value is "(set)", an unset one null.
nlohmann::ordered_json config_json(const std::vector<EffectiveSetting>& settings, bool non_default);

}  // namespace vmail::cli
