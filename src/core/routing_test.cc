// Alias chains never loop (SPEC "Addresses and passwords"): the pure walk,
// then the store refusing a change that would close a cycle.
#include "core/routing.h"

#include <gtest/gtest.h>

#include <map>

#include "tests/test_util.h"

namespace vmail {
namespace {

using Graph = std::map<std::string, std::vector<std::string>>;

std::vector<std::string> cycle_in(const Graph& g, const std::vector<std::string>& starts) {
  return find_cycle(starts, [&g](const std::string& a) {
    auto it = g.find(a);
    return it == g.end() ? std::vector<std::string>{} : it->second;
  });
}

TEST(FindCycleTest, Table) {
  struct Case {
    const char* name;
    Graph graph;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"self-loop", {{"a", {"a"}}}, {"a", "a"}},
      {"2-cycle", {{"a", {"b"}}, {"b", {"a"}}}, {"a", "b", "a"}},
      {"3-cycle", {{"a", {"b"}}, {"b", {"c"}}, {"c", {"a"}}}, {"a", "b", "c", "a"}},
      {"cycle behind a fork", {{"a", {"x", "b"}}, {"b", {"c"}}, {"c", {"b"}}}, {"b", "c", "b"}},
      {"diamond", {{"a", {"b", "c"}}, {"b", {"d"}}, {"c", {"d"}}, {"d", {"e"}}}, {}},
      {"dead ends", {{"a", {"b", "c"}}}, {}},
  };
  for (const Case& c : cases) EXPECT_EQ(cycle_in(c.graph, {"a"}), c.expected) << c.name;
}

TEST(FindCycleTest, LongChainWithoutCycleAndEachAddressExpandedOnce) {
  Graph g;
  for (int i = 0; i < 100000; ++i) g["n" + std::to_string(i)] = {"n" + std::to_string(i + 1)};
  g["n0"].push_back("n50000");  // a shortcut: reached twice, expanded once
  size_t calls = 0;
  auto cycle = find_cycle({"n0", "n7"}, [&](const std::string& a) {
    ++calls;
    auto it = g.find(a);
    return it == g.end() ? std::vector<std::string>{} : it->second;
  });
  EXPECT_TRUE(cycle.empty());
  EXPECT_EQ(calls, 100001u);
  g["n100000"] = {"n3"};
  EXPECT_EQ(cycle_in(g, {"n0"}).size(), 100000u - 3 + 2);
}

class StoreLoopTest : public testing::StoreFixture {
 protected:
  Status alias(const std::string& local, std::vector<std::string> dests) {
    return store_->add_alias(Address{local, "example.com"}, dests);
  }
};

TEST_F(StoreLoopTest, RefusesEveryCycleAndWritesNothing) {
  struct Case {
    const char* name;
    std::vector<std::pair<std::string, std::string>> before;  // local -> destination, accepted
    std::pair<std::string, std::string> change;               // refused
    std::string message;
  };
  // Each case in its own domain, so one database serves them all.
  const std::vector<Case> cases = {
      {"self-loop", {}, {"a1", "a1@d0.org"}, "alias: a1@d0.org -> a1@d0.org would loop"},
      {"2-cycle", {{"a1", "a2@d1.org"}}, {"a2", "a1@d1.org"}, "alias: a2@d1.org -> a1@d1.org -> a2@d1.org would loop"},
      {"3-cycle",
       {{"a1", "a2@d2.org"}, {"a2", "a3@d2.org"}},
       {"a3", "a1@d2.org"},
       "alias: a3@d2.org -> a1@d2.org -> a2@d2.org -> a3@d2.org would loop"},
      {"catch-all back to an alias",
       {{"", "a1@d3.org"}},
       {"a1", "nobody@d3.org"},
       "alias: a1@d3.org -> nobody@d3.org -> a1@d3.org would loop"},
      {"through a catch-all",
       {{"a1", "x@elsewhere.org"}, {"", "a1@d4.org"}},
       {"a1", "unknown@d4.org"},
       "alias: a1@d4.org -> unknown@d4.org -> a1@d4.org would loop"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE(c.name);
    std::string domain = "d" + std::to_string(i) + ".org";
    ASSERT_TRUE(store_->add_domain(domain).ok());
    for (const auto& [local, dest] : c.before) ASSERT_TRUE(store_->add_alias(Address{local, domain}, {dest}).ok());
    auto before = store_->list_aliases(domain);
    Status s = store_->add_alias(Address{c.change.first, domain}, {c.change.second});
    EXPECT_EQ(s.code(), Code::kBadInput);
    EXPECT_EQ(s.message(), c.message);
    auto after = store_->list_aliases(domain);
    ASSERT_EQ(after->size(), before->size()) << "nothing written";
    for (size_t j = 0; j < after->size(); ++j) EXPECT_EQ((*after)[j].destinations, (*before)[j].destinations);
  }
}

TEST_F(StoreLoopTest, AcceptsChainsAndDiamonds) {
  User box;
  box.local = "box";
  box.domain = "example.com";
  box.address = "box@example.com";
  box.password = "{SHA512-CRYPT}$6$salt$hash";
  ASSERT_TRUE(store_->add_user(box).ok());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(alias("c" + std::to_string(i), {"c" + std::to_string(i + 1) + "@example.com"}).ok()) << i;
  }
  ASSERT_TRUE(alias("c200", {"box@example.com"}).ok());
  ASSERT_TRUE(alias("top", {"left@example.com", "right@example.com"}).ok());
  ASSERT_TRUE(alias("left", {"box@example.com"}).ok());
  ASSERT_TRUE(alias("right", {"box@example.com", "c0@example.com"}).ok());
  // A mailbox ends a chain, and a catch-all to a mailbox is no loop.
  ASSERT_TRUE(store_->add_alias(Address{"", "example.com"}, {"box@example.com"}).ok());
  ASSERT_TRUE(alias("back", {"top@example.com", "elsewhere@example.org"}).ok());
  // Postfix ends an expansion at an address that maps to itself: a catch-all
  // naming an unknown address of its own domain is no loop.
  ASSERT_TRUE(store_->add_domain("other.org").ok());
  ASSERT_TRUE(store_->add_alias(Address{"", "other.org"}, {"catch@other.org"}).ok());
}

User mailbox(const std::string& local, const std::string& domain) {
  User u;
  u.local = local;
  u.domain = domain;
  u.address = local + "@" + domain;
  u.password = "{SHA512-CRYPT}$6$salt$hash";
  return u;
}

TEST_F(StoreLoopTest, AliasDomainRules) {
  ASSERT_TRUE(store_->add_domain("used.org").ok());
  ASSERT_TRUE(store_->add_user(mailbox("x", "used.org")).ok());
  ASSERT_TRUE(store_->add_domain("empty.org").ok());
  EXPECT_EQ(store_->add_alias_domain("alias.net", "nope.org").code(), Code::kNotFound);
  EXPECT_EQ(store_->add_alias_domain("example.com", "example.com").code(), Code::kBadInput);
  EXPECT_EQ(store_->add_alias_domain("used.org", "example.com").code(), Code::kBadInput) << "has users";
  ASSERT_TRUE(store_->add_alias_domain("alias.net", "example.com").ok());
  ASSERT_TRUE(store_->add_alias_domain("empty.org", "example.com").ok()) << "an empty domain may become one";
  EXPECT_EQ(store_->add_alias_domain("alias.net", "used.org").code(), Code::kBadInput) << "already an alias";
  EXPECT_EQ(store_->add_alias_domain("x.net", "alias.net").code(), Code::kBadInput) << "alias of an alias";
  EXPECT_EQ(store_->add_alias_domain("example.com", "used.org").code(), Code::kBadInput) << "a target";
  EXPECT_EQ(store_->add_user(mailbox("y", "alias.net")).code(), Code::kBadInput);
  EXPECT_EQ(store_->add_alias(Address{"y", "alias.net"}, {"x@used.org"}).code(), Code::kBadInput);
  EXPECT_EQ(store_->delete_domain("example.com", false, nullptr).code(), Code::kBadInput) << "aliased";
  auto domains = store_->list_domains();
  ASSERT_EQ(domains->size(), 4u);
  EXPECT_EQ((*domains)[0].alias_of, std::optional<std::string>("example.com"));
  EXPECT_EQ((*domains)[2].alias_of, std::nullopt);
  ASSERT_TRUE(store_->delete_alias_domain("empty.org").ok());
  EXPECT_EQ(store_->delete_alias_domain("empty.org").code(), Code::kNotFound);
  EXPECT_EQ(store_->delete_alias_domain("used.org").code(), Code::kNotFound);
  ASSERT_TRUE(store_->delete_domain("example.com", true, nullptr).ok());
  EXPECT_FALSE(*store_->domain_exists("alias.net")) << "--force takes the alias domain along";
  EXPECT_TRUE(store_->list_alias_domains()->empty());
}

TEST_F(StoreLoopTest, LoopsThroughAliasDomainsAndForwards) {
  ASSERT_TRUE(store_->add_user(mailbox("box", "example.com")).ok());
  ASSERT_TRUE(store_->add_alias(Address{"a", "example.com"}, {"b@alias.net"}).ok());
  // b@alias.net is b@example.com once alias.net is an alias domain of example.com.
  ASSERT_TRUE(store_->add_alias(Address{"b", "example.com"}, {"a@example.com"}).code() == Code::kOk);
  // That was no loop yet: b@alias.net led nowhere. Now it does.
  Status s = store_->add_alias_domain("alias.net", "example.com");
  EXPECT_EQ(s.code(), Code::kBadInput);
  EXPECT_EQ(s.message(), "domain alias: b@alias.net -> b@example.com -> a@example.com -> b@alias.net would loop");
  EXPECT_FALSE(*store_->domain_exists("alias.net")) << "nothing written";

  // Forwards: with --keep the mailbox itself is delivered, not followed.
  ASSERT_TRUE(store_->set_forward("box@example.com", {"out@elsewhere.org"}, true).ok());
  ASSERT_TRUE(store_->add_alias(Address{"c", "example.com"}, {"box@example.com"}).ok());
  s = store_->set_forward("box@example.com", {"c@example.com"}, false);
  EXPECT_EQ(s.message(), "forward: box@example.com -> c@example.com -> box@example.com would loop");
  auto kept = store_->get_forward("box@example.com");
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->destinations, std::vector<std::string>{"out@elsewhere.org"}) << "old forward kept";
  EXPECT_TRUE((*kept)->keep);
  ASSERT_TRUE(store_->clear_forward("box@example.com").ok());
  EXPECT_EQ(store_->clear_forward("box@example.com").code(), Code::kNotFound);
  EXPECT_EQ(store_->set_forward("nobody@example.com", {"x@y.org"}, false).code(), Code::kNotFound);
  EXPECT_FALSE(store_->get_forward("box@example.com")->has_value());
  // A forward goes with its mailbox.
  ASSERT_TRUE(store_->set_forward("box@example.com", {"out@elsewhere.org"}, false).ok());
  ASSERT_TRUE(store_->delete_user("box@example.com", nullptr).ok());
  EXPECT_TRUE(store_->snapshot()->forwards.empty());
}

}  // namespace
}  // namespace vmail
