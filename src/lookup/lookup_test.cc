// The lookups behind the NSS module and `vmail getent` (src/lookup/lookup.h):
// line formats, buffer filling, keys, hostile settings, and a cached
// read-only view that must never serve a database that changed.
#include "lookup/lookup.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstring>
#include <memory>
#include <vector>

#include "core/database.h"
#include "core/store.h"
#include "tests/test_util.h"

namespace vmail {
namespace {

PasswdEntry entry(const std::string& name, const std::string& gecos = "Alice") {
  PasswdEntry e;
  e.name = name;
  e.gecos = gecos;
  e.dir = "/var/mail/vhosts/example.com/alice";
  e.uid = 5000;
  e.gid = 5001;
  return e;
}

TEST(LookupTest, PasswdLineIsWhatPutpwentPrints) {
  EXPECT_EQ(passwd_line(entry("alice@example.com")),
            "alice@example.com:x:5000:5001:Alice:/var/mail/vhosts/example.com/alice:/usr/sbin/nologin\n");
  EXPECT_EQ(passwd_line(entry("bob@example.com", "")),
            "bob@example.com:x:5000:5001::/var/mail/vhosts/example.com/alice:/usr/sbin/nologin\n");
  // putpwent(3): a name starting with '+' or '-' gets empty uid and gid.
  EXPECT_EQ(passwd_line(entry("-x@example.com")),
            "-x@example.com:x:::Alice:/var/mail/vhosts/example.com/alice:/usr/sbin/nologin\n");
}

TEST(LookupTest, AliasLineIsWhatGetentPrints) {
  AliasEntry a{"@example.com", {"alice@example.com"}};
  EXPECT_EQ(alias_line(a), "@example.com:   alice@example.com\n");
  a = {"abcdefghijklmn", {"x@y.org", "z@y.org"}};
  EXPECT_EQ(alias_line(a), "abcdefghijklmn: x@y.org, z@y.org\n");
  a = {"sales@example.com", {"x@y.org"}};
  EXPECT_EQ(alias_line(a), "sales@example.com: x@y.org\n");
}

TEST(LookupTest, FillPasswdNeedsExactlyItsBytes) {
  PasswdEntry e = entry("alice@example.com");
  size_t need = e.name.size() + 1 + 2 + e.gecos.size() + 1 + e.dir.size() + 1 + std::strlen(kNssShell) + 1;
  std::vector<char> buf(need);
  passwd pw{};
  for (size_t len = 0; len < need; ++len) {
    EXPECT_EQ(fill_passwd(e, &pw, buf.data(), len), LookupStatus::kBufferTooSmall) << len;
  }
  EXPECT_EQ(fill_passwd(e, &pw, nullptr, 0), LookupStatus::kBufferTooSmall);
  ASSERT_EQ(fill_passwd(e, &pw, buf.data(), need), LookupStatus::kFound);
  EXPECT_STREQ(pw.pw_name, "alice@example.com");
  EXPECT_STREQ(pw.pw_passwd, "x");
  EXPECT_STREQ(pw.pw_gecos, "Alice");
  EXPECT_STREQ(pw.pw_dir, e.dir.c_str());
  EXPECT_STREQ(pw.pw_shell, "/usr/sbin/nologin");
  EXPECT_EQ(pw.pw_uid, 5000u);
  EXPECT_EQ(pw.pw_gid, 5001u);
}

TEST(LookupTest, FillAliasAlignsTheMemberArrayInAnyBuffer) {
  AliasEntry a{"sales@example.com", {"alice@example.com", "bob@other.org"}};
  size_t strings = a.name.size() + 1 + a.members[0].size() + 1 + a.members[1].size() + 1;
  alignas(alignof(char*)) char storage[256];
  for (size_t offset = 0; offset < alignof(char*); ++offset) {
    char* buf = storage + offset;
    size_t pad = (alignof(char*) - offset) % alignof(char*);
    size_t need = pad + 2 * sizeof(char*) + strings;
    aliasent al{};
    EXPECT_EQ(fill_alias(a, &al, buf, need - 1), LookupStatus::kBufferTooSmall) << offset;
    ASSERT_EQ(fill_alias(a, &al, buf, need), LookupStatus::kFound) << offset;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(al.alias_members) % alignof(char*), 0u);
    EXPECT_STREQ(al.alias_name, "sales@example.com");
    ASSERT_EQ(al.alias_members_len, 2u);
    EXPECT_STREQ(al.alias_members[0], "alice@example.com");
    EXPECT_STREQ(al.alias_members[1], "bob@other.org");
    EXPECT_EQ(al.alias_local, 0);
  }
}

class LookupDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_.db = dir_.path() + "/vmail.db";
    settings_.mail_dir = "/var/mail/vhosts";
    auto db = Database::open_migrated(settings_.db);
    ASSERT_TRUE(db.ok()) << db.status().message();
    Store store(**db);
    ASSERT_TRUE(store.add_domain("example.com").ok());
    User u;
    u.local = "alice";
    u.domain = "example.com";
    u.address = "alice@example.com";
    u.name = "Alice";
    u.password = "{SHA512-CRYPT}$6$x$y";
    ASSERT_TRUE(store.add_user(u).ok());
  }
  void TearDown() override { lookup_forget_connection(); }

  // Runs `sql` in its own connection, closed afterwards (so the -wal goes away).
  void exec(const std::string& sql) {
    auto db = Database::open(settings_.db, Database::Mode::kReadWrite);
    ASSERT_TRUE(db.ok()) << db.status().message();
    (*db)->sql().exec(sql);
  }

  testing::TempDir dir_;
  Settings settings_;
};

TEST_F(LookupDbTest, KeysAreAddressesComparedCaseInsensitively) {
  struct Case {
    const char* key;
    LookupStatus want;
  };
  const Case cases[] = {
      {"alice@example.com", LookupStatus::kFound},
      {"ALICE@Example.COM", LookupStatus::kFound},
      {"alice", LookupStatus::kNotFound},
      {"", LookupStatus::kNotFound},
      {"alice@example.com ", LookupStatus::kNotFound},
      {" alice@example.com", LookupStatus::kNotFound},
      {"alice@@example.com", LookupStatus::kNotFound},
      {"@example.com", LookupStatus::kNotFound},
      {"alice\n@example.com", LookupStatus::kNotFound},
      {"alice@ex\xc3\xa4mple.com", LookupStatus::kNotFound},
  };
  for (const Case& c : cases) {
    PasswdEntry e;
    EXPECT_EQ(lookup_passwd(settings_, c.key, &e, nullptr), c.want) << c.key;
    if (c.want == LookupStatus::kFound) {
      EXPECT_EQ(e.name, "alice@example.com");
    }
  }
  PasswdEntry e;
  EXPECT_EQ(lookup_passwd(settings_, std::string(400, 'a') + "@example.com", &e, nullptr), LookupStatus::kNotFound);
  EXPECT_EQ(lookup_passwd(settings_, std::string_view("alice\0@example.com", 18), &e, nullptr),
            LookupStatus::kNotFound);
}

TEST_F(LookupDbTest, HostileRecordedMailDirMakesTheDatabaseUnavailable) {
  for (const char* dir : {"relative/path", "/srv/../etc", "/srv/mail/..", "/srv/./mail", "/srv:mail"}) {
    exec(std::string("INSERT OR REPLACE INTO settings (name, value) VALUES ('VMAIL_MAIL_DIR', '") + dir + "')");
    PasswdEntry e;
    LookupFailure failure;
    EXPECT_EQ(lookup_passwd(settings_, "alice@example.com", &e, &failure), LookupStatus::kUnavailable) << dir;
    EXPECT_EQ(failure.code, Code::kConfig) << dir;
    EXPECT_NE(failure.message.find("VMAIL_MAIL_DIR"), std::string::npos) << failure.message;
  }
  exec("INSERT OR REPLACE INTO settings (name, value) VALUES ('VMAIL_MAIL_DIR', '/srv/mail')");
  PasswdEntry e;
  ASSERT_EQ(lookup_passwd(settings_, "alice@example.com", &e, nullptr), LookupStatus::kFound);
  EXPECT_EQ(e.dir, "/srv/mail/example.com/alice");
}

// Regression: one unsafe destination made the whole alias vanish here while
// the exported `virtual` map kept its safe destinations (core/row_policy.h).
TEST_F(LookupDbTest, AliasKeepsItsSafeDestinationsOnly) {
  exec("INSERT INTO aliases (source, domain_id) SELECT 'sales@example.com', id FROM domains");
  exec(
      "INSERT INTO alias_destinations (alias_id, destination, position) SELECT id, 'alice@example.com', 1 "
      "FROM aliases");
  exec(
      "INSERT INTO alias_destinations (alias_id, destination, position) SELECT id, 'evil\n@example.com', 2 "
      "FROM aliases");
  exec(
      "INSERT INTO alias_destinations (alias_id, destination, position) SELECT id, 'x@elsewhere.net', 3 "
      "FROM aliases");
  AliasEntry e;
  ASSERT_EQ(lookup_alias(settings_, "sales@example.com", &e, nullptr), LookupStatus::kFound);
  EXPECT_EQ(e.members, (std::vector<std::string>{"alice@example.com", "x@elsewhere.net"}));
  // An alias left with no safe destination is not found.
  exec("DELETE FROM alias_destinations WHERE destination NOT LIKE 'evil%'");
  EXPECT_EQ(lookup_alias(settings_, "sales@example.com", &e, nullptr), LookupStatus::kNotFound);
}

TEST_F(LookupDbTest, NotADatabaseIsUnavailable) {
  settings_.db = dir_.path() + "/junk.db";
  {
    FILE* f = std::fopen(settings_.db.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(std::string(4096, 'x').c_str(), f);
    std::fclose(f);
  }
  PasswdEntry e;
  LookupFailure failure;
  EXPECT_EQ(lookup_passwd(settings_, "alice@example.com", &e, &failure), LookupStatus::kUnavailable);
  EXPECT_EQ(failure.code, Code::kConfig);
  settings_.db = dir_.path();
  EXPECT_EQ(lookup_passwd(settings_, "alice@example.com", &e, &failure), LookupStatus::kUnavailable);
}

// Regression: the cached immutable view was reused after a writer changed a
// row in place (same size) within one file-timestamp tick, and served the old
// row. Each change is made by a fast writer that closes again, so no -wal is
// left and the next lookup takes the immutable path every time.
TEST_F(LookupDbTest, CachedViewNeverServesAChangedFile) {
  for (int i = 0; i < 500; ++i) {
    std::string name = "Name " + std::to_string(1000 + i);
    sqlite3* w = nullptr;
    ASSERT_EQ(sqlite3_open(settings_.db.c_str(), &w), SQLITE_OK);
    std::string sql = "PRAGMA synchronous = OFF; UPDATE users SET name = '" + name + "' WHERE id = 1";
    ASSERT_EQ(sqlite3_exec(w, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(w);
    ASSERT_EQ(sqlite3_close(w), SQLITE_OK);
    PasswdEntry e;
    ASSERT_EQ(lookup_passwd(settings_, "alice@example.com", &e, nullptr), LookupStatus::kFound);
    ASSERT_EQ(e.gecos, name) << "iteration " << i;
  }
}

}  // namespace
}  // namespace vmail
