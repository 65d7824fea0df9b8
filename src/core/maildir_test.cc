#include "core/maildir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "tests/test_util.h"

namespace vmail {
namespace {

namespace fs = std::filesystem;

TEST(MaildirTest, CreatesTreeWithModeAndOwner) {
  testing::TempDir dir;
  std::string base = dir.path() + "/vhosts";
  ASSERT_TRUE(create_maildir(base, "example.com", "alice", 5000, 5000).ok());
  for (const char* sub : {"", "/cur", "/new", "/tmp"}) {
    std::string p = base + "/example.com/alice/Maildir" + sub;
    struct stat st;
    ASSERT_EQ(stat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_mode & 0777, 0700u) << p;
    if (geteuid() == 0) {
      EXPECT_EQ(st.st_uid, 5000u);
      EXPECT_EQ(st.st_gid, 5000u);
    }
  }
  EXPECT_TRUE(create_maildir(base, "example.com", "alice", 5000, 5000).ok()) << "idempotent";
}

TEST(MaildirTest, RefusesUnsafeNames) {
  testing::TempDir dir;
  EXPECT_FALSE(create_maildir(dir.path(), "..", "alice", 5000, 5000).ok());
  EXPECT_FALSE(create_maildir(dir.path(), "example.com", "../x", 5000, 5000).ok());
  EXPECT_FALSE(purge_maildir(dir.path(), "example.com", "..").ok());
  EXPECT_FALSE(purge_maildir(dir.path(), "a/b.com", "x").ok());
}

TEST(MaildirTest, NeverFollowsSymlinkOut) {
  testing::TempDir dir;
  std::string base = dir.path() + "/vhosts";
  std::string outside = dir.path() + "/outside";
  fs::create_directories(outside);
  std::ofstream(outside + "/precious") << "keep me";
  fs::create_directories(base + "/example.com");
  // The maildir itself is a symlink to a folder outside the mail dir.
  fs::create_directory_symlink(outside, base + "/example.com/mallory");
  EXPECT_FALSE(create_maildir(base, "example.com", "mallory", 5000, 5000).ok());
  ASSERT_TRUE(purge_maildir(base, "example.com", "mallory").ok());
  EXPECT_TRUE(fs::exists(outside + "/precious"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(base + "/example.com/mallory")));

  // A symlink inside a real maildir is removed, not followed.
  ASSERT_TRUE(create_maildir(base, "example.com", "bob", 5000, 5000).ok());
  fs::create_directory_symlink(outside, base + "/example.com/bob/Maildir/cur/link");
  ASSERT_TRUE(purge_maildir(base, "example.com", "bob").ok());
  EXPECT_FALSE(fs::exists(base + "/example.com/bob"));
  EXPECT_TRUE(fs::exists(outside + "/precious"));

  // A domain folder that is a symlink is not entered.
  fs::create_directory_symlink(outside, base + "/evil.com");
  EXPECT_FALSE(purge_maildir(base, "evil.com", "precious").ok());
  EXPECT_TRUE(fs::exists(outside + "/precious"));
}

TEST(MaildirTest, PurgeRemovesOnlyThatUser) {
  testing::TempDir dir;
  std::string base = dir.path() + "/vhosts";
  ASSERT_TRUE(create_maildir(base, "example.com", "alice", 5000, 5000).ok());
  ASSERT_TRUE(create_maildir(base, "example.com", "alice2", 5000, 5000).ok());
  std::ofstream(base + "/example.com/alice/Maildir/new/1.msg") << "mail";
  ASSERT_TRUE(purge_maildir(base, "example.com", "alice").ok());
  EXPECT_FALSE(fs::exists(base + "/example.com/alice"));
  EXPECT_TRUE(fs::exists(base + "/example.com/alice2/Maildir/new"));
  EXPECT_TRUE(purge_maildir(base, "example.com", "ghost").ok()) << "missing is fine";
}

// A new user must not silently get a deleted user's mail (`user add` refuses
// unless --reuse-maildir): what counts as mail.
TEST(MaildirTest, HasMailTable) {
  testing::TempDir dir;
  std::string base = dir.path() + "/vhosts";
  struct Case {
    const char* name;
    const char* file;    // created below the Maildir ("" = none)
    const char* folder;  // created below the Maildir ("" = none)
    bool expected;
  };
  const Case cases[] = {
      {"empty", "", "", false},
      {"a message in new", "new/1.msg", "", true},
      {"a message in cur", "cur/1:2,S", "", true},
      {"only tmp", "tmp/1.part", "", false},
      {"dovecot's files", "dovecot-uidlist", "", false},
      {"a subfolder", "", ".Sent", true},
  };
  for (const Case& c : cases) {
    std::string local = std::string("u") + std::to_string(&c - cases);
    ASSERT_TRUE(create_maildir(base, "example.com", local, 5000, 5000).ok());
    std::string maildir = base + "/example.com/" + local + "/Maildir/";
    if (*c.file != '\0') std::ofstream(maildir + c.file) << "x";
    if (*c.folder != '\0') fs::create_directory(maildir + c.folder);
    auto has = maildir_has_mail(base, "example.com", local);
    ASSERT_TRUE(has.ok()) << c.name;
    EXPECT_EQ(*has, c.expected) << c.name;
  }
  EXPECT_FALSE(*maildir_has_mail(base, "example.com", "ghost")) << "missing";
  EXPECT_FALSE(*maildir_has_mail(dir.path() + "/nothing", "example.com", "ghost")) << "no mail dir";
  // A symlinked maildir is not followed (create_maildir refuses it later).
  ASSERT_TRUE(create_maildir(base, "example.com", "full", 5000, 5000).ok());
  std::ofstream(base + "/example.com/full/Maildir/new/1.msg") << "x";
  fs::create_directories(base + "/example.com/link");
  fs::create_directory_symlink(base + "/example.com/full/Maildir", base + "/example.com/link/Maildir");
  EXPECT_FALSE(*maildir_has_mail(base, "example.com", "link"));
}

}  // namespace
}  // namespace vmail
