#include "core/status.h"

#include <gtest/gtest.h>

namespace vmail {
namespace {

TEST(QuoteTest, KeepsMessagesOnOneLine) {
  EXPECT_EQ(quote("bob@x"), "\"bob@x\"");
  EXPECT_EQ(quote("a\nb"), "\"a\\x0ab\"");
  EXPECT_EQ(quote(std::string("a\0b", 3)), "\"a\\x00b\"");
  EXPECT_EQ(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(quote(std::string(200, 'x')).size(), 1 + 80 + 3 + 1);
}

}  // namespace
}  // namespace vmail
