#include "cli/settings_cli.h"

#include <gtest/gtest.h>

#include "core/settings.h"

namespace vmail::cli {
namespace {

// One entry added to the table, and nothing else edited: it is a flag of the
// programs of its scope, in --help, and in `vmail config` (text and JSON).
TEST(SettingsCliTest, OneNewEntryIsAFlagInHelpAndInConfig) {
  std::vector<SettingInfo> table = settings_table();
  table.push_back(
      {"VMAIL_NEW_THING", "--new-thing", kScopeVmail, "7", "", "a new thing", "", nullptr, false, false, false});
  table.push_back(
      {"VMAIL_TOKEN", "--token", kScopeVmail, "", "(none)", "a secret value", "", nullptr, false, true, false});

  CLI::App app{"test", "test"};
  std::map<std::string, std::string> flags;
  add_setting_flags(app, flags, kScopeVmail, table);
  EXPECT_NE(app.help().find("--new-thing"), std::string::npos);
  EXPECT_NE(app.help().find("a new thing (env VMAIL_NEW_THING)"), std::string::npos);
  EXPECT_NE(app.help().find("--export-lock-timeout"), std::string::npos);
  EXPECT_NE(app.help().find("--db-password-file"), std::string::npos);
  // Launcher-only settings are not `vmail` flags.
  EXPECT_EQ(app.help().find("--relay-host"), std::string::npos);
  app.parse("--new-thing 9 --token s3cret", false);

  auto effective = effective_settings(table, flags, map_env({}), {});
  ASSERT_TRUE(effective.ok());
  auto lines = config_lines(*effective, true);
  EXPECT_EQ(lines, (std::vector<std::string>{"VMAIL_NEW_THING = 9 # flag", "VMAIL_TOKEN = (set) # flag"}));
  auto all = config_lines(*effective, false);
  EXPECT_EQ(all.size(), table.size());
  auto json = config_json(*effective, true);
  const std::string expected =
      R"j({"VMAIL_NEW_THING":{"value":"9","source":"flag"},"VMAIL_TOKEN":{"value":"(set)","source":"flag"}})j";
  EXPECT_EQ(json.dump(), expected);
  EXPECT_EQ(config_json(*effective, false).dump().find("s3cret"), std::string::npos);
}

TEST(SettingsCliTest, LauncherFlagsIncludeTheNewOnes) {
  CLI::App app{"test", "test"};
  std::map<std::string, std::string> flags;
  add_setting_flags(app, flags, kScopeLaunch);
  for (const char* flag : {"--cert-check-interval", "--export-lock-timeout", "--db-password-file", "--relay-host",
                           "--mail-domain", "--smtp-port", "--db"}) {
    EXPECT_NE(app.help().find(flag), std::string::npos) << flag;
  }
  CLI::App health{"health", "health"};
  std::map<std::string, std::string> health_flags;
  add_setting_flags(health, health_flags, kScopeHealth);
  EXPECT_NE(health.help().find("--listen"), std::string::npos);
  EXPECT_NE(health.help().find("--quota-status-port"), std::string::npos);
  EXPECT_EQ(health.help().find("--relay-host"), std::string::npos);
}

}  // namespace
}  // namespace vmail::cli
