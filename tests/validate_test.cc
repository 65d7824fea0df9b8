#include "validate.h"
#include <gtest/gtest.h>
TEST(Placeholder, Builds) { EXPECT_TRUE(vmail::parse_address("a@b.com").ok()); }
