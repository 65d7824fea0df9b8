#include "core/maildir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

// The one leftover-maildir rule (`user add` and `user import` alike): what a
// deleted user's folder must hold for a new user of the address to be
// refused. tests/e2e/test_import.py (LeftoverMaildirs) runs the same table
// through both commands.
struct Leftover {
  const char* name;
  // Below the user's folder `<domain>/<local>`: "d:path" a folder, "f:path" a
  // file, "l:path" a symlink to an empty folder elsewhere, "m:path" a symlink
  // to a folder holding a message.
  std::vector<std::string> make;
  // kMail: a new user is refused (65) unless the maildir is reused; kRefused:
  // never followed, refused even when reused (73).
  enum Verdict { kNone, kMail, kRefused } verdict;
};

const std::vector<Leftover>& leftover_table() {
  static const std::vector<Leftover> table = {
      {"no folder", {}, Leftover::kNone},
      {"an empty home", {"d:"}, Leftover::kNone},
      {"a home without Maildir", {"f:.dovecot.lda-dupes"}, Leftover::kNone},
      {"empty cur/new/tmp", {"d:Maildir/cur", "d:Maildir/new", "d:Maildir/tmp"}, Leftover::kNone},
      {"a message in new", {"f:Maildir/new/1.msg"}, Leftover::kMail},
      {"a message in cur", {"f:Maildir/cur/1:2,S"}, Leftover::kMail},
      {"only tmp", {"f:Maildir/tmp/1.part", "d:Maildir/cur", "d:Maildir/new"}, Leftover::kNone},
      {"dovecot index files only",
       {"d:Maildir/cur", "d:Maildir/new", "f:Maildir/dovecot.index", "f:Maildir/dovecot.index.log",
        "f:Maildir/dovecot.index.cache", "f:Maildir/dovecot-uidlist", "f:Maildir/dovecot-uidvalidity",
        "f:Maildir/subscriptions"},
       Leftover::kNone},
      {"empty subfolders",
       {"d:Maildir/.Sent/cur", "d:Maildir/.Sent/new", "f:Maildir/.Sent/maildirfolder", "d:Maildir/.Trash/tmp",
        "f:Maildir/.Trash/dovecot-uidlist"},
       Leftover::kNone},
      {".Sent with mail in cur", {"d:Maildir/cur", "d:Maildir/new", "f:Maildir/.Sent/cur/1:2,S"}, Leftover::kMail},
      {".Sent with mail in new", {"f:Maildir/.Sent/new/1.msg"}, Leftover::kMail},
      {".Sent with only tmp", {"f:Maildir/.Sent/tmp/1.part"}, Leftover::kNone},
      {"a symlinked home", {"l:"}, Leftover::kRefused},
      {"a symlinked Maildir", {"l:Maildir"}, Leftover::kRefused},
      {"a symlinked Maildir to mail", {"m:Maildir"}, Leftover::kRefused},
      {"a symlinked cur", {"l:Maildir/cur"}, Leftover::kRefused},
      {"a symlinked .Sent", {"l:Maildir/.Sent"}, Leftover::kRefused},
      {"a symlink in new", {"l:Maildir/new/1.msg"}, Leftover::kMail},
      {"a file for Maildir", {"f:Maildir"}, Leftover::kRefused},
      {"a file for cur", {"f:Maildir/cur"}, Leftover::kRefused},
  };
  return table;
}

// Makes `c`'s tree as `<base>/example.com/<local>`; `elsewhere` is a folder
// outside it for the symlinks to point at.
void make_leftover(const std::string& base, const std::string& local, const Leftover& c, const std::string& elsewhere) {
  fs::create_directories(base + "/example.com");
  fs::create_directories(elsewhere + "/empty");
  fs::create_directories(elsewhere + "/full/new");
  std::ofstream(elsewhere + "/full/new/1.msg") << "x";
  const std::string home = base + "/example.com/" + local;
  for (const std::string& step : c.make) {
    std::string path = home + (step.size() > 2 ? "/" + step.substr(2) : "");
    if (step[0] != 'd' && step.size() > 2) fs::create_directories(fs::path(path).parent_path());
    switch (step[0]) {
      case 'd': fs::create_directories(path); break;
      case 'f': std::ofstream(path) << "x"; break;
      case 'l': fs::create_directory_symlink(elsewhere + "/empty", path); break;
      case 'm': fs::create_directory_symlink(elsewhere + "/full", path); break;
    }
  }
}

TEST(MaildirTest, LeftoverTable) {
  testing::TempDir dir;
  std::string base = dir.path() + "/vhosts";
  for (size_t i = 0; i < leftover_table().size(); ++i) {
    const Leftover& c = leftover_table()[i];
    std::string local = "u" + std::to_string(i);
    make_leftover(base, local, c, dir.path() + "/elsewhere");
    auto holds = maildir_holds_mail(base, "example.com", local);
    if (c.verdict == Leftover::kRefused) {
      ASSERT_FALSE(holds.ok()) << c.name;
      EXPECT_EQ(holds.status().code(), Code::kCantCreate) << c.name;
    } else {
      ASSERT_TRUE(holds.ok()) << c.name << ": " << holds.status().message();
      EXPECT_EQ(*holds, c.verdict == Leftover::kMail) << c.name;
    }
    // The import's way in: the domain's folder opened once.
    auto domain = open_domain_dir(base, "example.com");
    ASSERT_TRUE(domain.ok() && *domain);
    auto again = leftover_holds_mail(**domain, local);
    EXPECT_EQ(again.ok(), holds.ok()) << c.name << " (open_domain_dir)";
    if (again.ok() && holds.ok()) {
      EXPECT_EQ(*again, *holds) << c.name << " (open_domain_dir)";
    }
  }
  EXPECT_FALSE(*maildir_holds_mail(dir.path() + "/nothing", "example.com", "ghost")) << "no mail dir";
  EXPECT_FALSE(*maildir_holds_mail(base, "example.org", "ghost")) << "no domain folder";
  auto none = open_domain_dir(base, "example.org");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
}

// A folder that cannot be read is an error (73), not "no mail".
TEST(MaildirTest, LeftoverUnreadableIsAnError) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads every folder";
  testing::TempDir dir;
  std::string base = dir.path() + "/vhosts";
  ASSERT_TRUE(create_maildir(base, "example.com", "bob", getuid(), getgid()).ok());
  std::string cur = base + "/example.com/bob/Maildir/cur";
  ASSERT_EQ(chmod(cur.c_str(), 0), 0);
  auto holds = maildir_holds_mail(base, "example.com", "bob");
  chmod(cur.c_str(), 0700);
  ASSERT_FALSE(holds.ok());
  EXPECT_EQ(holds.status().code(), Code::kCantCreate);
}

}  // namespace
}  // namespace vmail
