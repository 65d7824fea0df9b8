#include "core/settings_table.h"

#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "core/settings.h"

namespace vmail {
namespace {

// The flag of NAME: lowercase without VMAIL_, `_` -> `-` (README says so).
std::string flag_for(const std::string& name) {
  std::string flag = name.rfind("VMAIL_", 0) == 0 ? name.substr(6) : name;
  for (char& c : flag) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return "--" + flag;
}

TEST(SettingsTableTest, NamesAndFlagsAreUniqueAndFollowTheRule) {
  std::set<std::string> names, flags;
  for (const auto& info : settings_table()) {
    EXPECT_TRUE(names.insert(info.name).second) << info.name;
    EXPECT_TRUE(flags.insert(info.flag).second) << info.flag;
    EXPECT_EQ(info.flag, flag_for(info.name));
    EXPECT_NE(std::string(info.help), "") << info.name;
    EXPECT_NE(info.scope, 0u) << info.name;
    EXPECT_EQ(find_setting(info.name), &info);
  }
  EXPECT_EQ(find_setting("VMAIL_NO_SUCH"), nullptr);
}

TEST(SettingsTableTest, EveryDefaultPassesItsOwnCheck) {
  for (const auto& info : settings_table()) {
    std::string fallback = info.fallback;
    if (fallback.empty() || fallback.find('$') != std::string::npos) continue;
    EXPECT_TRUE(check_setting(info, fallback).ok()) << info.name << " " << fallback;
  }
}

TEST(SettingsTableTest, TheThreeNewFlagsAreThere) {
  for (const char* name : {"VMAIL_EXPORT_LOCK_TIMEOUT", "VMAIL_CERT_CHECK_INTERVAL", "VMAIL_DB_PASSWORD_FILE"}) {
    ASSERT_NE(find_setting(name), nullptr) << name;
  }
  EXPECT_NE(find_setting("VMAIL_EXPORT_LOCK_TIMEOUT")->scope & kScopeVmail, 0u);
  EXPECT_NE(find_setting("VMAIL_CERT_CHECK_INTERVAL")->scope & kScopeLaunch, 0u);
  EXPECT_EQ(std::string(find_setting("VMAIL_DB_PASSWORD_FILE")->flag), "--db-password-file");
}

TEST(SettingsTableTest, LoadSettingsChecksWithTheTable) {
  auto s = load_settings({}, map_env({{"VMAIL_EXPORT_LOCK_TIMEOUT", "soon"}}));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kConfig);
  EXPECT_EQ(s.status().message(), "VMAIL_EXPORT_LOCK_TIMEOUT \"soon\": not a number of seconds (0 to 86400)");
}

TEST(SettingsTableTest, EffectiveSettingsNameTheirSource) {
  auto e = effective_settings(settings_table(), {{"VMAIL_MAP_TYPE", "lmdb"}},
                              map_env({{"VMAIL_ROOT", "/srv/r/"}, {"VMAIL_UID", "6000"}, {"VMAIL_MAP_TYPE", "cdb"}}),
                              {{"VMAIL_GID", "7000"}, {"VMAIL_UID", "1"}, {"VMAIL_PASSWORD_SCHEME", "YESCRYPT"}});
  ASSERT_TRUE(e.ok()) << e.status().message();
  std::map<std::string, std::pair<std::string, std::string>> got;
  for (const auto& s : *e) got[s.info->name] = {s.value, source_name(s.source)};
  EXPECT_EQ(got["VMAIL_ROOT"], std::make_pair(std::string("/srv/r"), std::string("environment")));
  EXPECT_EQ(got["VMAIL_MAP_TYPE"], std::make_pair(std::string("lmdb"), std::string("flag")));
  EXPECT_EQ(got["VMAIL_UID"], std::make_pair(std::string("6000"), std::string("environment")));
  EXPECT_EQ(got["VMAIL_GID"], std::make_pair(std::string("7000"), std::string("database")));
  // Only recorded settings come from the database.
  EXPECT_EQ(got["VMAIL_PASSWORD_SCHEME"], std::make_pair(std::string("SHA512-CRYPT"), std::string("default")));
  EXPECT_EQ(got["VMAIL_MAIL_DIR"], std::make_pair(std::string("/srv/r/var/mail/vhosts"), std::string("default")));
  EXPECT_EQ(got["VMAIL_DB"], std::make_pair(std::string("/srv/r/data/state/vmail.db"), std::string("default")));
  EXPECT_EQ(got["SSL_CERT_FILE"].first, "/srv/r/data/state/certificates/$MAIL_DOMAIN/cert.pem");
  EXPECT_EQ(got["VMAIL_RELAY_HOST"], std::make_pair(std::string(""), std::string("default")));

  auto bad = effective_settings(settings_table(), {}, map_env({{"VMAIL_SMTP_PORT", "70000"}}), {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "VMAIL_SMTP_PORT \"70000\": port must be 1-65535");
  auto recorded = effective_settings(settings_table(), {}, map_env({}), {{"VMAIL_UID", "0"}});
  ASSERT_FALSE(recorded.ok());
  EXPECT_EQ(recorded.status().message(), "recorded VMAIL_UID \"0\": must not be 0 (root)");
}

TEST(SettingsTableTest, NoRootMeansSlash) {
  auto e = effective_settings(settings_table(), {}, map_env({}), {});
  ASSERT_TRUE(e.ok());
  auto lines = config_lines(*e, false);
  EXPECT_NE(std::find(lines.begin(), lines.end(), "VMAIL_ROOT = / # default"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "VMAIL_POSTFIX_DIR = /etc/postfix # default"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "VMAIL_RELAY_HOST = # default"), lines.end());
  EXPECT_TRUE(config_lines(*e, true).empty());
}

// The block of README.md after the line `marker` up to the next blank line.
std::string readme_block(const std::string& readme, const std::string& marker) {
  auto at = readme.find(marker + "\n");
  if (at == std::string::npos) return "";
  at += marker.size() + 1;
  auto end = readme.find("\n\n", at);
  return readme.substr(at, end == std::string::npos ? std::string::npos : end + 1 - at);
}

// README's settings tables are the table's, row for row. To update them after
// changing the table: VMAIL_WRITE_README=1 ctest -R SettingsTableTest.Readme.
TEST(SettingsTableTest, ReadmeTablesAreTheTable) {
  const std::string path = std::string(VMAIL_SOURCE_DIR) + "/README.md";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string readme = buffer.str();
  const std::vector<std::pair<std::string, std::string>> blocks = {
      {"<!-- settings: vmail and vmail-launch (generated from src/core/settings_table.cc) -->",
       settings_markdown(settings_table(), kScopeVmail, 0)},
      {"<!-- settings: vmail-launch and vmail health (generated from src/core/settings_table.cc) -->",
       settings_markdown(settings_table(), kScopeLaunch | kScopeHealth, kScopeVmail)},
  };
  bool write = std::getenv("VMAIL_WRITE_README") != nullptr;
  for (const auto& [marker, expected] : blocks) {
    std::string found = readme_block(readme, marker);
    ASSERT_NE(readme.find(marker), std::string::npos) << marker;
    if (write && found != expected) {
      readme.replace(readme.find(marker) + marker.size() + 1, found.size(), expected);
      continue;
    }
    EXPECT_EQ(found, expected) << "README.md differs from the settings table; VMAIL_WRITE_README=1 rewrites it";
  }
  if (write) std::ofstream(path) << readme;
}

}  // namespace
}  // namespace vmail
