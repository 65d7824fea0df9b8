// The shared row policy (core/row_policy.h) as tables of good and hostile
// stored values; every value the CLI's validators accept must pass.
#include "core/row_policy.h"

#include <gtest/gtest.h>

#include <string>

#include "core/validate.h"

namespace vmail {
namespace {

struct Case {
  std::string value;
  bool safe;
};

TEST(RowPolicyTest, Addresses) {
  const Case cases[] = {
      {"alice@example.com", true},
      {"a.b_c-d@sub.example.co", true},
      {"x@xn--bcher-kva.example", true},
      {std::string(64, 'a') + "@example.com", true},
      {std::string(65, 'a') + "@example.com", false},
      {"Alice@example.com", false},
      {"alice@Example.com", false},
      {"alice@example", false},
      {"@example.com", false},
      {"alice@", false},
      {"alice", false},
      {".alice@example.com", false},
      {"alice.@example.com", false},
      {"al..ice@example.com", false},
      {"al/ice@example.com", false},
      {"alice@example.com\nroot@example.com", false},
      {"alice@example.com,bob@example.com", false},
      {"alice@example.com bob", false},
      {"alice:x@example.com", false},
      {"alice#@example.com", false},
      {"al+ice@example.com", false},
      {"alice@exa_mple.com", false},
      {"alice@-example.com", false},
      {"alice@example..com", false},
      {"a@b@example.com", false},
      {std::string("ali\0ce@example.com", 18), false},
      {"\xc3\xa9@example.com", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(row_safe_address(c.value), c.safe) << quote(c.value);
    // Whatever the CLI's validator accepts unchanged, the policy accepts.
    auto parsed = parse_address(c.value);
    if (parsed.ok() && parsed->str() == c.value) {
      EXPECT_TRUE(row_safe_address(c.value)) << quote(c.value);
    }
  }
}

TEST(RowPolicyTest, AliasSources) {
  const Case cases[] = {
      {"sales@example.com", true}, {"@example.com", true},    {"@", false},
      {"@example", false},         {"@@example.com", false},  {"sales@", false},
      {"@Example.com", false},     {"@example.com\n", false},
  };
  for (const Case& c : cases) EXPECT_EQ(row_safe_alias_source(c.value), c.safe) << quote(c.value);
}

TEST(RowPolicyTest, Users) {
  EXPECT_TRUE(row_safe_user("alice@example.com", "alice", "example.com"));
  EXPECT_FALSE(row_safe_user("alice@example.com", "bob", "example.com"));
  EXPECT_FALSE(row_safe_user("alice@example.com", "alice", "example.org"));
  EXPECT_FALSE(row_safe_user("alice@example.com", "alice@example", "com"));
  EXPECT_FALSE(row_safe_user("../x@example.com", "../x", "example.com"));
  EXPECT_FALSE(row_safe_user("alice@example.com ", "alice", "example.com "));
}

TEST(RowPolicyTest, DisplayNames) {
  const Case cases[] = {
      {"", true},
      {"Alice Example", true},
      {"J\xc3\xb6rg", true},
      {std::string(1024, 'x'), true},
      {std::string(1025, 'x'), false},
      {"a:b", false},
      {"a\nb", false},
      {"a\tb", false},
      {"a\x7f", false},
  };
  for (const Case& c : cases) EXPECT_EQ(row_safe_display_name(c.value), c.safe) << quote(c.value);
}

TEST(RowPolicyTest, MailDirs) {
  const Case cases[] = {
      {"/var/mail/vhosts", true},
      {"/", true},
      {"/srv/mail.d/x", true},
      {"relative/mail", false},
      {"", false},
      {"/var/../etc", false},
      {"/var/./mail", false},
      {"/var/mail/..", false},
      {"/var/mail:x", false},
      {"/var/mail\nx", false},
      {"/var/mail\x1b", false},
  };
  for (const Case& c : cases) EXPECT_EQ(row_safe_mail_dir(c.value), c.safe) << quote(c.value);
}

TEST(RowPolicyTest, Domains) {
  const Case cases[] = {
      {"example.com", true},   {"a.b.c", true},         {"xn--bcher-kva.example", true},
      {"example", false},      {"Example.com", false},  {"example.com.", false},
      {".example.com", false}, {"ex ample.com", false}, {std::string(64, 'a') + ".com", false},
  };
  for (const Case& c : cases) EXPECT_EQ(row_safe_domain(c.value), c.safe) << quote(c.value);
}

}  // namespace
}  // namespace vmail
