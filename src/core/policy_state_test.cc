// The node-local state of bans and send counts (policy_state.h): rules over
// a test clock, persistence across reopening, file mode.
#include "core/policy_state.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/test_util.h"

namespace vmail {
namespace {

using testing::TempDir;

TEST(PolicyStateTest, FailuresWithinTheWindowBan) {
  TempDir dir;
  auto state = PolicyState::open(dir.path());
  ASSERT_TRUE(state.ok()) << state.status().message();
  BanRules rules{3, 600, 3600};
  // Two old failures fall out of the window before the third.
  ASSERT_FALSE(*(*state)->record_failure("192.0.2.1", 1000, rules));
  ASSERT_FALSE(*(*state)->record_failure("192.0.2.1", 1100, rules));
  ASSERT_FALSE(*(*state)->record_failure("192.0.2.1", 1700, rules));
  ASSERT_FALSE(*(*state)->record_failure("192.0.2.1", 1800, rules));
  auto ban = (*state)->record_failure("192.0.2.1", 1900, rules);
  ASSERT_TRUE(ban.ok());
  ASSERT_TRUE(*ban);
  EXPECT_EQ((*ban)->until, 1900 + 3600);
  EXPECT_TRUE(*(*state)->active_ban("192.0.2.1", 1901));
  EXPECT_FALSE(*(*state)->active_ban("192.0.2.2", 1901));         // nobody else
  EXPECT_FALSE(*(*state)->active_ban("192.0.2.1", 1900 + 3600));  // expired
}

TEST(PolicyStateTest, BansSurviveReopeningAndCanBeLifted) {
  TempDir dir;
  {
    auto state = PolicyState::open(dir.path());
    ASSERT_TRUE(state.ok());
    ASSERT_TRUE((*state)->add_ban("2001:db8::1", 100, 200, "manual").ok());
  }
  struct stat st;
  ASSERT_EQ(::stat((dir.path() + "/policy.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = PolicyState::open_existing(dir.path());
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(*again);
  auto list = (*again)->list_bans(150);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].reason, "manual");
  EXPECT_TRUE(*(*again)->remove_ban("2001:db8::1", 150));
  EXPECT_FALSE(*(*again)->remove_ban("2001:db8::1", 150));
  EXPECT_TRUE((*again)->list_bans(150)->empty());
}

TEST(PolicyStateTest, OpenExistingCreatesNothing) {
  TempDir dir;
  auto none = PolicyState::open_existing(dir.path());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
  struct stat st;
  EXPECT_NE(::stat((dir.path() + "/policy.db").c_str(), &st), 0);
}

TEST(PolicyStateTest, RecipientsPerSlidingHour) {
  TempDir dir;
  auto state = PolicyState::open(dir.path());
  ASSERT_TRUE(state.ok());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(*(*state)->take_recipient("a@example.com", 1000 + i, 5));
  EXPECT_FALSE(*(*state)->take_recipient("a@example.com", 1010, 5));
  EXPECT_TRUE(*(*state)->take_recipient("b@example.com", 1010, 5));  // another login
  EXPECT_EQ(*(*state)->recipients_last_hour("a@example.com", 1010), 5);
  // An hour after the first, one slot is free again.
  EXPECT_TRUE(*(*state)->take_recipient("a@example.com", 4600, 5));
  EXPECT_FALSE(*(*state)->take_recipient("a@example.com", 4600, 5));
  ASSERT_TRUE((*state)->prune(9000, 600).ok());
  EXPECT_EQ(*(*state)->recipients_last_hour("a@example.com", 4700), 0);
}

}  // namespace
}  // namespace vmail
