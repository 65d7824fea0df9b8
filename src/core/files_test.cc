// The file layer root uses below folders others can write (files.h Dir):
// hostile entries — symlinks, planted temp files, `..` — are never followed,
// written into or chmod'ed.
#include "core/files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace vmail {
namespace {

using vmail::testing::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

bool is_symlink(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

TEST(PathSplitTest, FolderAndNameOfEveryShape) {
  struct Case {
    std::string path, dir, name;
  };
  for (const Case& c : std::vector<Case>{{"/data/state/vmail.db", "/data/state", "vmail.db"},
                                         {"vmail.db", ".", "vmail.db"},
                                         {"/vmail.db", "/", "vmail.db"},
                                         {"state/", "state", ""},
                                         {"a/b", "a", "b"}}) {
    EXPECT_EQ(dir_of(c.path), c.dir) << c.path;
    EXPECT_EQ(base_name(c.path), c.name) << c.path;
  }
}

TEST(PathComponentTest, OnlySingleEntries) {
  for (const char* good : {"example.com", "s20260101.private", "a", ".vmail-vacation.sieve", "..."}) {
    EXPECT_TRUE(is_path_component(good)) << good;
  }
  for (const char* bad : {"", ".", "..", "../victim", "a/b", "/etc", "x/", "../../../../victim"}) {
    EXPECT_FALSE(is_path_component(bad)) << bad;
  }
  EXPECT_FALSE(is_path_component(std::string("a\0b", 3)));
  EXPECT_FALSE(is_path_component(std::string(256, 'a')));
}

TEST(DirTest, EveryOperationRefusesANameThatIsNotOneEntry) {
  TempDir tmp;
  auto dir = Dir::open(tmp.path());
  ASSERT_TRUE(dir.ok());
  EXPECT_FALSE(dir->make_sub("../escape", 0700).ok());
  EXPECT_FALSE(dir->sub("..").ok());
  EXPECT_FALSE(dir->write_file("../escape", "x", FileOptions{}).ok());
  EXPECT_FALSE(dir->read_file("a/b", 10).ok());
  EXPECT_FALSE(dir->remove("..").ok());
  EXPECT_FALSE(dir->remove_tree("..").ok());
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(tmp.path()).parent_path() / "escape"));
}

TEST(DirTest, MakeSubRefusesASymlinkAndNeverFollowsIt) {
  TempDir tmp;
  std::string victim = tmp.path() + "/victim";
  ASSERT_EQ(::mkdir(victim.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((tmp.path() + "/shared").c_str(), 0777), 0);
  ASSERT_EQ(::symlink(victim.c_str(), (tmp.path() + "/shared/example.com").c_str()), 0);
  auto shared = Dir::open(tmp.path() + "/shared");
  ASSERT_TRUE(shared.ok());
  auto made = shared->make_sub("example.com", 0700, 12345, 12345);
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("symlink"), std::string::npos) << made.status().message();
  EXPECT_EQ(mode_of(victim), 0755u);
  struct stat st {};
  ASSERT_EQ(::stat(victim.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::geteuid());  // not chowned
  auto sub = shared->sub("example.com");
  EXPECT_FALSE(sub.ok());
}

TEST(DirTest, MakeSubSetsTheModeOfANewFolderOnlyAndKeepsAnExistingOne) {
  TempDir tmp;
  auto dir = Dir::open(tmp.path());
  ASSERT_TRUE(dir.ok());
  auto made = dir->make_sub("new", 0750);
  ASSERT_TRUE(made.ok()) << made.status().message();
  EXPECT_EQ(mode_of(tmp.path() + "/new"), 0750u);
  ASSERT_EQ(::mkdir((tmp.path() + "/old").c_str(), 0755), 0);
  ASSERT_TRUE(dir->make_sub("old", 0700).ok());
  EXPECT_EQ(mode_of(tmp.path() + "/old"), 0755u);
}

TEST(DirTest, WriteFileReplacesAPlantedSymlinkInsteadOfWritingItsTarget) {
  TempDir tmp;
  std::string outside = tmp.path() + "/outside";
  spit(outside, "precious\n");
  ASSERT_EQ(::chmod(outside.c_str(), 0644), 0);
  ASSERT_EQ(::mkdir((tmp.path() + "/shared").c_str(), 0777), 0);
  ASSERT_EQ(::symlink(outside.c_str(), (tmp.path() + "/shared/key.private").c_str()), 0);
  auto shared = Dir::open(tmp.path() + "/shared");
  ASSERT_TRUE(shared.ok());
  ASSERT_TRUE(shared->write_file("key.private", "secret", FileOptions{0600, {}, {}}).ok());
  EXPECT_EQ(slurp(outside), "precious\n");
  EXPECT_EQ(mode_of(outside), 0644u);
  EXPECT_FALSE(is_symlink(tmp.path() + "/shared/key.private"));
  EXPECT_EQ(slurp(tmp.path() + "/shared/key.private"), "secret");
  EXPECT_EQ(mode_of(tmp.path() + "/shared/key.private"), 0600u);
}

TEST(DirTest, WriteFileNeverWritesIntoAFileSomeoneElseMade) {
  TempDir tmp;
  auto dir = Dir::open(tmp.path());
  ASSERT_TRUE(dir.ok());
  // An open descriptor of a pre-made 0666 target keeps seeing the old inode:
  // the new content arrives by rename, never through that file.
  std::string target = tmp.path() + "/backup.db";
  spit(target, "");
  ASSERT_EQ(::chmod(target.c_str(), 0666), 0);
  int spy = ::open(target.c_str(), O_RDONLY);
  ASSERT_GE(spy, 0);
  ASSERT_TRUE(dir->write_file("backup.db", "hashes", FileOptions{0600, {}, {}}).ok());
  char buf[16];
  EXPECT_EQ(::pread(spy, buf, sizeof buf, 0), 0);
  ::close(spy);
  EXPECT_EQ(mode_of(target), 0600u);
  EXPECT_EQ(slurp(target), "hashes");
}

TEST(DirTest, ReadFileRefusesSymlinksAndLargeFiles) {
  TempDir tmp;
  spit(tmp.path() + "/big", std::string(100, 'x'));
  ASSERT_EQ(::symlink((tmp.path() + "/big").c_str(), (tmp.path() + "/link").c_str()), 0);
  auto dir = Dir::open(tmp.path());
  ASSERT_TRUE(dir.ok());
  EXPECT_FALSE(dir->read_file("link", 1000).ok());
  auto big = dir->read_file("big", 10);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), Code::kBadInput);
  auto fine = dir->read_file("big", 100);
  ASSERT_TRUE(fine.ok());
  EXPECT_EQ(fine->value().size(), 100u);
  auto missing = dir->read_file("none", 10);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST(DirTest, RemoveTreeRemovesSymlinksNotTheirTargets) {
  TempDir tmp;
  std::string outside = tmp.path() + "/outside";
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  spit(outside + "/keep", "keep");
  std::string tree = tmp.path() + "/tree";
  ASSERT_EQ(::mkdir(tree.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((tree + "/sub").c_str(), 0755), 0);
  ASSERT_EQ(::symlink(outside.c_str(), (tree + "/sub/link").c_str()), 0);
  spit(tree + "/sub/file", "x");
  auto dir = Dir::open(tmp.path());
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(dir->remove_tree("tree").ok());
  EXPECT_FALSE(std::filesystem::exists(tree));
  EXPECT_EQ(slurp(outside + "/keep"), "keep");
  EXPECT_TRUE(dir->remove_tree("tree").ok());  // missing is fine
}

TEST(DirTest, RenameToRefusesAnExistingTargetUnlessTold) {
  TempDir tmp;
  spit(tmp.path() + "/a", "a");
  spit(tmp.path() + "/b", "b");
  auto dir = Dir::open(tmp.path());
  ASSERT_TRUE(dir.ok());
  EXPECT_FALSE(dir->rename_to("a", *dir, "b", false).ok());
  EXPECT_EQ(slurp(tmp.path() + "/b"), "b");
  ASSERT_TRUE(dir->rename_to("a", *dir, "b", true).ok());
  EXPECT_EQ(slurp(tmp.path() + "/b"), "a");
}

TEST(MakeDirsTest, NeverChmodsAFolderThatExisted) {
  TempDir tmp;
  std::string parent = tmp.path() + "/parent";
  ASSERT_EQ(::mkdir(parent.c_str(), 0755), 0);
  ASSERT_TRUE(make_dirs(parent + "/a/b", 0700).ok());
  EXPECT_EQ(mode_of(parent), 0755u);
  EXPECT_EQ(mode_of(parent + "/a"), 0700u);
  EXPECT_EQ(mode_of(parent + "/a/b"), 0700u);
  ASSERT_TRUE(make_dirs(parent + "/a", 0750).ok());
  EXPECT_EQ(mode_of(parent + "/a"), 0700u);
}

}  // namespace
}  // namespace vmail
