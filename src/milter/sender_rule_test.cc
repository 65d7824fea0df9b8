#include "milter/sender_rule.h"

#include <gtest/gtest.h>

#include "milter/from_header.h"

namespace vmail {
namespace {

// sender_logins as the exporter writes it: a mailbox owns itself, an alias
// its local destinations, an alias domain repeats its target's lines.
constexpr const char* kTable =
    "bob@example.test bob@example.test\n"
    "ceo@other.test ceo@other.test\n"
    "demo@alias.test demo@example.test\n"
    "demo@example.test demo@example.test\n"
    "demo@xn--bcher-kva.test demo@xn--bcher-kva.test\n"
    "info@example.test bob@example.test,demo@example.test\n";

constexpr const char* kDemo = "demo@example.test";

FromVerdict check(const std::string& from, const std::string& login = kDemo) {
  return check_from(SenderLogins::parse(kTable), login, {from});
}

TEST(FromRuleTest, AcceptsAddressesTheLoginOwns) {
  const char* cases[] = {
      "demo@example.test",
      "Demo User <demo@example.test>",
      "DEMO@EXAMPLE.TEST",
      "Demo <Demo@Example.Test>",
      "demo+news@example.test",                           // recipient delimiter, as Postfix looks it up
      "info@example.test",                                // an alias delivering to the login
      "demo@alias.test",                                  // an alias domain of the login's domain
      "\"demo\"@example.test",                            // a quoted local part that is the same address
      "=?UTF-8?B?RMOpbW8=?= <demo@example.test>",         // an encoded word in the display name
      "\"ceo@other.test\" <demo@example.test>",           // an address-like display name, quoted
      "demo@example.test (ceo@other.test)",               // a comment
      "(a) demo (b) @ (c(nested)) example (d) . test",    // comments everywhere (obsolete CFWS)
      "Team: demo@example.test, Info <info@example.test>;",  // a group of owned addresses
      "demo@example.test, info@example.test",             // several From: addresses, all owned
      "demo@example.test, , info@example.test",          // an empty list element (obsolete)
      "<@relay.example,@other.test:demo@example.test>",   // an obsolete route is not the address
      "Demo\r\n <demo@example.test>",                     // folded
      "Dr. Demo <demo@example.test>",                     // an obsolete phrase with a dot
  };
  for (const char* from : cases) {
    FromVerdict v = check(from);
    EXPECT_TRUE(v.allowed) << from << ": " << v.reason;
  }
}

TEST(FromRuleTest, RefusesWhatTheLoginDoesNotOwn) {
  struct Case {
    const char* from;
    const char* reason;  // a part of the reason
  };
  const Case cases[] = {
      {"ceo@other.test", "\"ceo@other.test\" is not an address demo@example.test may send as"},
      {"Demo <ceo@other.test>", "\"ceo@other.test\""},
      {"CEO@Other.TEST", "\"CEO@Other.TEST\""},
      {"bob@example.test", "\"bob@example.test\""},       // another user of the same domain
      {"demo@sub.example.test", "sub.example.test"},      // a subdomain is not the domain
      {"demo@example.test, ceo@other.test", "\"ceo@other.test\""},  // the second of several
      {"Team: demo@example.test, ceo@other.test;", "\"ceo@other.test\""},
      {"\"demo@example.test\"@other.test", "is not an address"},  // '@' inside a quoted local part
      {"=?utf-8?q?ceo?=@other.test", "is not an address"},        // an encoded word is no local part
      {"demo@[127.0.0.1]", "is not an address"},                  // a domain literal
      {"demo@example.test.", "in a domain"},                      // a trailing dot
      {"demo@ex\xd0\xb0mple.test", "is not an address"},          // a Cyrillic 'a' (another domain)
      {"undisclosed-recipients:;", "no address"},
      {"=?utf-8?q?ceo=40other.test?=", "a name without an address"},
      {"ceo@other.test <demo@example.test>", "'<' after an address"},  // an unquoted '@' in a name
      {"demo@example.test ceo@other.test", "a word after an address"},
      {"Demo <demo@example.test", "expected '>'"},
      {"<>", "an empty address <>"},
      {"", "no address"},
      {"   ", "no address"},
      {"demo@example.test (unterminated", "a comment without ')'"},
      {"\"demo@example.test", "a quoted string without its closing"},
      {"demo@[127.0.0.1", "a domain literal without ']'"},
      {"Team: demo@example.test", "a group without ';'"},
      {"A: B: demo@example.test;;", "a group inside a group"},
      {"demo@example.test\x01", "a control character"},
      {"demo.@example.test", "ending in '.'"},
      {"demo..x@example.test", "misplaced '.'"},
      {"demo@example..test", "in a domain"},
      {"demo@", "in a domain"},
      {"@example.test", "without a local part"},
  };
  for (const Case& c : cases) {
    FromVerdict v = check(c.from);
    EXPECT_FALSE(v.allowed) << c.from;
    EXPECT_NE(v.reason.find(c.reason), std::string::npos) << c.from << ": " << v.reason;
    EXPECT_EQ(v.reason.find('\n'), std::string::npos) << c.from;
  }
}

TEST(FromRuleTest, InternationalisedDomainsCompareAsALabels) {
  const std::string login = "demo@xn--bcher-kva.test";
  for (const char* from : {"demo@b\xc3\xbc" "cher.test", "demo@B\xc3\x9c" "CHER.test", "demo@xn--bcher-kva.test",
                           "D\xc3\xa9mo <demo@xn--BCHER-kva.test>"}) {
    FromVerdict v = check(from, login);
    EXPECT_TRUE(v.allowed) << from << ": " << v.reason;
  }
  EXPECT_FALSE(check("demo@bucher.test", login).allowed);
  // A login in Unicode or upper case is the same login.
  EXPECT_TRUE(check("demo@example.test", "Demo@Example.TEST").allowed);
}

TEST(FromRuleTest, EveryFromFieldCountsAndOneIsNeeded) {
  SenderLogins table = SenderLogins::parse(kTable);
  EXPECT_TRUE(check_from(table, kDemo, {"demo@example.test", "info@example.test"}).allowed);
  FromVerdict two = check_from(table, kDemo, {"demo@example.test", "ceo@other.test"});
  EXPECT_FALSE(two.allowed);
  EXPECT_EQ(two.address, "ceo@other.test");
  FromVerdict none = check_from(table, kDemo, {});
  EXPECT_FALSE(none.allowed);
  EXPECT_EQ(none.reason, "no From: header");
  // A login the table does not know owns nothing, its own address included.
  EXPECT_FALSE(check_from(table, "new@example.test", {"new@example.test"}).allowed);
}

TEST(SenderLoginsTest, LooksUpAsPostfixDoes) {
  SenderLogins table = SenderLogins::parse(
      "a@x.test a@x.test\n"
      "list@x.test b@x.test\n"
      "@catch.test a@x.test\n");
  auto owner = [&](const std::string& address) {
    const auto* o = table.owners(address);
    return o == nullptr ? std::string("-") : o->front();
  };
  EXPECT_EQ(owner("a@x.test"), "a@x.test");
  EXPECT_EQ(owner("a+tag@x.test"), "a@x.test");    // extension stripped
  EXPECT_EQ(owner("list+a@x.test"), "b@x.test");
  EXPECT_EQ(owner("list@catch.test"), "a@x.test");  // the domain's key, not another domain's
  EXPECT_EQ(owner("anyone@catch.test"), "a@x.test");  // then @domain
  EXPECT_EQ(owner("+a@x.test"), "-");              // nothing to strip down to
  EXPECT_EQ(owner("b@x.test"), "-");
}

TEST(SenderLoginsTest, LeavesOutAndReportsBadLines) {
  std::vector<std::string> reported;
  SenderLogins table = SenderLogins::parse(
      "# comment\n"
      "\n"
      "good@x.test good@x.test\r\n"
      "not-an-address good@x.test\n"
      "lonely@x.test\n"
      "c@x.test bad..login@x.test\n"
      "d@x.test good@x.test,\n"
      "good@x.test someone@else.test\n",
      [&](const std::string& r) { reported.push_back(r); });
  EXPECT_EQ(table.size(), 1u);
  ASSERT_NE(table.owners("good@x.test"), nullptr);
  EXPECT_EQ(*table.owners("good@x.test"), std::vector<std::string>{"good@x.test"});  // the first line wins
  ASSERT_EQ(reported.size(), 4u);
  EXPECT_EQ(reported[0].rfind("line 4: key \"not-an-address\"", 0), 0u) << reported[0];
  EXPECT_EQ(reported[1], "line 5: a key without logins");
  EXPECT_EQ(reported[2].rfind("line 6: login \"bad..login@x.test\"", 0), 0u) << reported[2];
  EXPECT_EQ(reported[3].rfind("line 7: login \"\"", 0), 0u) << reported[3];
}

TEST(FromHeaderTest, ReturnsEveryMailboxUnquoted) {
  auto list = parse_address_list("\"a b\\\"c\"@X.Test, G: <d@e.test>, f@[1.2.3.4];");
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].local, "a b\"c");
  EXPECT_EQ((*list)[0].domain, "X.Test");
  EXPECT_EQ((*list)[1].str(), "d@e.test");
  EXPECT_EQ((*list)[2].domain, "[1.2.3.4]");
  EXPECT_FALSE(parse_address_list(std::string("a@b.test\0c@d.test", 17)).ok());
}

}  // namespace
}  // namespace vmail
