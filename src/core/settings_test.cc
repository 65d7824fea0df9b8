#include "core/settings.h"

#include <gtest/gtest.h>

namespace vmail {
namespace {

TEST(SettingsTest, DefaultsArePrefixedByRoot) {
  auto s = load_settings({}, map_env({{"VMAIL_ROOT", "/srv/one"}}));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->db, "/srv/one/data/state/vmail.db");
  EXPECT_EQ(s->mail_dir, "/srv/one/var/mail/vhosts");
  EXPECT_EQ(s->postfix_dir, "/srv/one/etc/postfix");
  EXPECT_EQ(s->dovecot_dir, "/srv/one/etc/dovecot");
  EXPECT_EQ(s->uid, 5000u);
  EXPECT_EQ(s->map_type, "hash");
}

TEST(SettingsTest, NoRootMeansSlash) {
  auto s = load_settings({}, map_env({}));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->db, "/data/state/vmail.db");
  EXPECT_EQ(s->postfix_dir, "/etc/postfix");
}

TEST(SettingsTest, FlagBeatsEnvironment) {
  auto s = load_settings({{"VMAIL_DB", "/flag.db"}}, map_env({{"VMAIL_DB", "/env.db"}, {"VMAIL_STATE_DIR", "/st"}}));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->db, "/flag.db");
  EXPECT_EQ(s->state_dir, "/st");
}

TEST(SettingsTest, StateDirMovesTheDatabase) {
  auto s = load_settings({}, map_env({{"VMAIL_STATE_DIR", "/st/"}}));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->db, "/st/vmail.db");
}

TEST(SettingsTest, PostgresUrlMakesTheReplicaTheLocalDatabase) {
  for (std::string url : {"postgresql://vmail@db.example:5432/vmail", "postgres://db.example/vmail?sslmode=require",
                          "postgresql:///vmail?host=/run/postgresql", "postgresql://user@[::1]:5433/vmail"}) {
    auto s = load_settings({}, map_env({{"VMAIL_ROOT", "/n"}, {"VMAIL_DB", url}, {"VMAIL_DB_PASSWORD_FILE", "/pw"}}));
    ASSERT_TRUE(s.ok()) << url << ": " << s.status().message();
    EXPECT_EQ(s->upstream, url);
    EXPECT_EQ(s->db, "/n/data/state/replica.db");
    EXPECT_EQ(s->db_password_file, "/pw");
  }
  auto sqlite = load_settings({}, map_env({{"VMAIL_DB", "/x/postgresql.db"}}));
  ASSERT_TRUE(sqlite.ok());
  EXPECT_EQ(sqlite->upstream, "");
}

// Regression: these became a new, empty SQLite file named like the URL.
TEST(SettingsTest, UrlsOtherThanPostgresAreRefused) {
  for (std::string url : {"postgresql:/vmail@host/db", "postgres:/db", "mysql://vmail:secret@host/db",
                          "sqlite:///data/state/vmail.db", "file:/data/state/vmail.db", "PostgreSQL:/x"}) {
    for (bool flag : {false, true}) {
      auto s = flag ? load_settings({{"VMAIL_DB", url}}, map_env({})) : load_settings({}, map_env({{"VMAIL_DB", url}}));
      ASSERT_FALSE(s.ok()) << url;
      EXPECT_EQ(s.status().code(), Code::kConfig);
      EXPECT_EQ(s.status().message().rfind("VMAIL_DB: ", 0), 0u) << s.status().message();
      EXPECT_EQ(s.status().message().find("secret"), std::string::npos) << s.status().message();
    }
  }
  // Paths, even odd ones, stay paths.
  for (std::string path : {"/srv/a:b/vmail.db", "/x/postgresql:/vmail.db", "relative.db", "c:vmail.db", ":/x"}) {
    auto s = load_settings({}, map_env({{"VMAIL_DB", path}}));
    ASSERT_TRUE(s.ok()) << path << ": " << s.status().message();
    EXPECT_EQ(s->upstream, "");
  }
}

TEST(SettingsTest, BadValuesAreConfigErrors) {
  for (auto [name, value] : std::vector<std::pair<std::string, std::string>>{{"VMAIL_UID", "0"},
                                                                             {"VMAIL_GID", "0"},
                                                                             {"VMAIL_UID", "-5"},
                                                                             {"VMAIL_UID", "5000x"},
                                                                             {"VMAIL_UID", "99999999999"},
                                                                             {"VMAIL_MAP_TYPE", "btree"},
                                                                             {"VMAIL_PASSWORD_SCHEME", "MD5"}}) {
    auto s = load_settings({}, map_env({{name, value}}));
    ASSERT_FALSE(s.ok()) << name << "=" << value;
    EXPECT_EQ(s.status().code(), Code::kConfig);
    EXPECT_EQ(s.status().message().rfind(name, 0), 0u) << s.status().message();
  }
}

TEST(SettingsTest, RecordedSettingsApplyUnlessExplicit) {
  auto s = load_settings({}, map_env({{"VMAIL_ROOT", "/r"}, {"VMAIL_MAP_TYPE", "cdb"}}));
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(
      apply_recorded(*s, {{"VMAIL_POSTFIX_DIR", "/srv/postfix"}, {"VMAIL_MAP_TYPE", "lmdb"}, {"VMAIL_UID", "6000"}})
          .ok());
  EXPECT_EQ(s->postfix_dir, "/srv/postfix");
  EXPECT_EQ(s->map_type, "cdb");  // the environment wins
  EXPECT_EQ(s->uid, 6000u);
}

TEST(SettingsTest, RecordedValuesAreUntrusted) {
  auto s = load_settings({}, map_env({}));
  EXPECT_FALSE(apply_recorded(*s, {{"VMAIL_POSTFIX_DIR", "relative/dir"}}).ok());
  EXPECT_FALSE(apply_recorded(*s, {{"VMAIL_MAIL_DIR", "/a/../etc"}}).ok());
  EXPECT_FALSE(apply_recorded(*s, {{"VMAIL_UID", "0"}}).ok());
  EXPECT_FALSE(apply_recorded(*s, {{"VMAIL_MAP_TYPE", "hash:/etc/shadow"}}).ok());
}

}  // namespace
}  // namespace vmail
