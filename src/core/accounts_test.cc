// User and group lookups against the machine's own databases: root always
// exists, a name that cannot be a user never does.
#include "core/accounts.h"

#include <gtest/gtest.h>

namespace vmail {
namespace {

TEST(AccountsTest, FindsRoot) {
  auto root = user_by_name("root");
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->uid, 0u);
  EXPECT_EQ(root->gid, 0u);
  EXPECT_TRUE(user_exists(0));
  EXPECT_TRUE(group_exists(0));
  EXPECT_EQ(group_by_name("root"), std::optional<gid_t>(0));
}

TEST(AccountsTest, MissingNamesAndIdsAreNotFound) {
  for (const char* name : {"", "no-such-user-vmail-test", "bad:name", "../root", "root\n"}) {
    EXPECT_FALSE(user_by_name(name).has_value()) << name;
    EXPECT_FALSE(group_by_name(name).has_value()) << name;
  }
  EXPECT_FALSE(user_exists(4000000000u));
  EXPECT_FALSE(group_exists(4000000000u));
}

}  // namespace
}  // namespace vmail
