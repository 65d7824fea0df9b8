#include "cli/settings_cli.h"

#include <cstdlib>

namespace vmail::cli {

void add_setting_flags(CLI::App& app, std::map<std::string, std::string>& flags, unsigned scope,
                       const std::vector<SettingInfo>& table) {
  for (const SettingInfo& info : table) {
    if ((info.scope & scope) == 0) continue;
    app.add_option(info.flag, flags[info.name], setting_help(info))->group("Settings");
  }
}

void export_setting_flags(const std::map<std::string, std::string>& flags) {
  for (const auto& [name, value] : flags) {
    if (!value.empty()) ::setenv(name.c_str(), value.c_str(), 1);
  }
}

nlohmann::ordered_json config_json(const std::vector<EffectiveSetting>& settings, bool non_default) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& s : settings) {
    if (non_default && s.source == SettingSource::kDefault) continue;
    std::string shown = shown_value(s);
    out[s.info->name] = {{"value", shown.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(shown)},
                         {"source", source_name(s.source)}};
  }
  return out;
}

}  // namespace vmail::cli
