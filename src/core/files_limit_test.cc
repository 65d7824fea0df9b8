// read_file_limited (issue 22): a file over its limit is refused before it
// is read whole, whatever kind of file it is.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "core/files.h"

namespace vmail {
namespace {

class ReadLimitedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmail-files-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string dir_;
};

TEST_F(ReadLimitedTest, AtTheLimitIsRead) {
  std::string path = dir_ + "/f";
  ASSERT_TRUE(write_file_atomic(path, std::string(100, 'x'), {}).ok());
  auto r = read_file_limited(path, 100);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(**r, std::string(100, 'x'));
  auto missing = read_file_limited(dir_ + "/none", 100);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(*missing);
}

TEST_F(ReadLimitedTest, OverTheLimitNamesFileAndLimit) {
  std::string path = dir_ + "/f";
  ASSERT_TRUE(write_file_atomic(path, std::string(4097, 'x'), {}).ok());
  auto r = read_file_limited(path, 4096);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kBadInput);
  EXPECT_EQ(r.status().message(), path + ": larger than the limit of 4 KiB");
}

// A sparse 64 GiB file: refused by its size, never read (it would not fit).
TEST_F(ReadLimitedTest, HugeRegularFileIsRefusedByItsSize) {
  std::string path = dir_ + "/sparse";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, off_t{64} << 30), 0);
  ::close(fd);
  auto r = read_file_limited(path, 64 * 1024);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), path + ": larger than the limit of 64 KiB");
}

// Files without a size (a device, a pipe) stop one byte past the limit.
TEST_F(ReadLimitedTest, EndlessDeviceStopsPastTheLimit) {
  auto r = read_file_limited("/dev/zero", 1 << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "/dev/zero: larger than the limit of 1 MiB");
  int pipes[2];
  ASSERT_EQ(::pipe(pipes), 0);
  ASSERT_EQ(::write(pipes[1], "0123456789", 10), 10);
  ::close(pipes[1]);
  auto under = read_fd_limited(pipes[0], "<pipe>", 10);
  ASSERT_TRUE(under.ok());
  EXPECT_EQ(*under, "0123456789");
  ::close(pipes[0]);
  ASSERT_EQ(::pipe(pipes), 0);
  ASSERT_EQ(::write(pipes[1], "0123456789", 10), 10);
  ::close(pipes[1]);
  auto over = read_fd_limited(pipes[0], "<pipe>", 9);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().message(), "<pipe>: larger than the limit of 9 bytes");
  ::close(pipes[0]);
}

TEST(FormatLimitTest, Units) {
  EXPECT_EQ(format_limit(4096), "4 KiB");
  EXPECT_EQ(format_limit(size_t{256} << 20), "256 MiB");
  EXPECT_EQ(format_limit(1000), "1000 bytes");
}

// The one reader of password files (the relay's, the database's): good and
// hostile contents, each refused with one line naming the setting and the
// file, never the content.
TEST_F(ReadLimitedTest, SecretFilesGoodAndHostile) {
  const std::string path = dir_ + "/secret";
  const std::vector<std::pair<std::string, std::string>> good = {
      {"s3cret\n", "s3cret"}, {"s3cret", "s3cret"}, {"s3cret\r\n", "s3cret"}, {"with space", "with space"}};
  for (const auto& [content, expected] : good) {
    std::ofstream(path, std::ios::trunc) << content;
    auto r = read_secret_file("VMAIL_X_FILE", path);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(*r, expected);
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", ": is empty"},
      {"\n", ": is empty"},
      {"two\nlines\n", ": must be one line"},
      {"bell\a", ": holds a control character"},
      {"nul" + std::string(1, '\0') + "x", ": holds a control character"},
      {std::string(5000, 'a'), ": larger than the limit of 4 KiB"},
  };
  for (const auto& [content, why] : bad) {
    std::ofstream(path, std::ios::trunc | std::ios::binary) << content;
    auto r = read_secret_file("VMAIL_X_FILE", path);
    ASSERT_FALSE(r.ok()) << why;
    EXPECT_EQ(r.status().code(), Code::kConfig);
    EXPECT_EQ(r.status().message().rfind("VMAIL_X_FILE " + path + why, 0), 0u) << r.status().message();
    if (content.size() > 3) {
      EXPECT_EQ(r.status().message().find(content.substr(0, 4)), std::string::npos);
    }
  }
  auto missing = read_secret_file("VMAIL_X_FILE", dir_ + "/none");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "VMAIL_X_FILE " + dir_ + "/none: no such file");
}

}  // namespace
}  // namespace vmail
