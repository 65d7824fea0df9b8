#include <gtest/gtest.h>

#include <fstream>

#include "launch/health.h"
#include "pg/follow.h"
#include "tests/test_util.h"

namespace vmail {
namespace {

class FollowerHealthTest : public ::testing::Test {
 protected:
  std::string write(const std::string& text) {
    std::ofstream(path_) << text;
    return path_;
  }
  pg::FollowerStatus status(bool ok, std::time_t updated) {
    pg::FollowerStatus s;
    s.seq = 42;
    s.upstream_ok = ok;
    s.since = 1000;
    s.updated = updated;
    if (!ok) s.error = "connection refused";
    return s;
  }
  vmail::testing::TempDir dir_;
  std::string path_ = dir_.path() + "/follower.json";
};

TEST_F(FollowerHealthTest, FreshAndReachableIsHealthy) {
  write(pg::follower_status_json(status(true, 2000)));
  ServiceHealth h = check_follower(path_, 2005);
  EXPECT_TRUE(h.healthy) << h.error;
  EXPECT_EQ(h.name, "follower");
  EXPECT_EQ(h.file, path_);
}

TEST_F(FollowerHealthTest, EachWayToBeUnhealthySaysWhy) {
  struct Case {
    std::string file;  // "" = no file
    std::time_t now;
    std::string expected;
  };
  std::vector<Case> cases = {
      {"", 2000, "no status file"},
      {"{not json", 2000, "follower.json"},
      {pg::follower_status_json(status(true, 2000)), 2011, "not updated for 11 s"},
      {pg::follower_status_json(status(false, 2000)), 2001, "unreachable since 1970-01-01T00:16:40Z"},
      {pg::follower_status_json(status(false, 2000)), 2001, "serving the replica at change 42"},
  };
  for (const auto& c : cases) {
    std::remove(path_.c_str());
    if (!c.file.empty()) write(c.file);
    ServiceHealth h = check_follower(path_, c.now);
    EXPECT_FALSE(h.healthy) << c.file;
    EXPECT_NE(h.error.find(c.expected), std::string::npos) << h.error;
    EXPECT_EQ(h.error.find('\n'), std::string::npos) << h.error;
  }
}

}  // namespace
}  // namespace vmail
