// receive=off and quotas for every address that reaches a mailbox (security
// issue 22): where each kind of address ends up (exporters/routes.h) and the
// three files that follow from it — virtual (refused destinations left out
// of a source that has others), recipient_access (addresses that reach only
// receive=off mailboxes, the catch-all's domain with DUNNO for the rest) and
// alias-quotas (addresses that reach exactly one mailbox with a quota).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "exporters/access_files.h"
#include "exporters/dovecot_users.h"
#include "exporters/postfix_maps.h"
#include "exporters/routes.h"

namespace vmail {
namespace {

const char* const kHash =
    "{SHA512-CRYPT}$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.";

User user(const std::string& local, const std::string& domain, std::optional<uint64_t> quota = std::nullopt) {
  User u;
  u.local = local;
  u.domain = domain;
  u.address = local + "@" + domain;
  u.password = kHash;
  u.quota = quota;
  return u;
}

Alias alias(const std::string& source, std::vector<std::string> destinations) {
  return Alias{source, source.substr(source.find('@') + 1), std::move(destinations)};
}

// demo (receive=off); bob; quinn (quota 1000); fwd forwards to demo, keep
// forwards to demo keeping a copy; live at the catch-all domain catch.org,
// whose catch-all goes to demo; alias.net is an alias domain of example.com,
// catch-alias.org of catch.org.
Snapshot policy_sample() {
  Snapshot s;
  s.domains = {"alias.net", "catch-alias.org", "catch.org", "example.com"};
  s.users = {user("bob", "example.com"),  user("demo", "example.com"), user("fwd", "example.com"),
             user("keep", "example.com"), user("live", "catch.org"),   user("quinn", "example.com", 1000)};
  s.aliases = {
      alias("@catch.org", {"demo@example.com"}),
      alias("crew@example.com", {"quinn@example.com", "bob@example.com"}),
      alias("desk@example.com", {"sales@example.com"}),
      alias("full@example.com", {"quinn@example.com"}),
      alias("mixed@example.com", {"demo@example.com", "x@elsewhere.net"}),
      alias("sales@example.com", {"demo@example.com"}),
      alias("team@example.com", {"demo@example.com", "bob@example.com"}),
      alias("twice@example.com", {"demo@example.com", "sales@example.com"}),
      alias("via@example.com", {"nobody@catch.org"}),
  };
  s.alias_domains = {AliasDomain{"alias.net", "example.com"}, AliasDomain{"catch-alias.org", "catch.org"}};
  s.forwards = {Forward{"fwd@example.com", {"demo@example.com"}, false},
                Forward{"keep@example.com", {"demo@example.com"}, true}};
  s.denied = {AccessDenial{"demo@example.com", "receive"}, AccessDenial{"bob@example.com", "imap"}};
  return s;
}

struct Case {
  const char* address;
  Reach::Kind kind;
  const char* to;  // for kOne
};

TEST(RoutesTest, WhereEachKindOfAddressEndsUp) {
  using K = Reach::Kind;
  const Case cases[] = {
      {"demo@example.com", K::kRefused, ""},              // the mailbox itself
      {"sales@example.com", K::kRefused, ""},             // an alias to it
      {"desk@example.com", K::kRefused, ""},              // an alias to that alias
      {"twice@example.com", K::kRefused, ""},             // both
      {"demo@alias.net", K::kRefused, ""},                // at an alias domain
      {"sales@alias.net", K::kRefused, ""},               // an alias, at an alias domain
      {"nobody@catch.org", K::kRefused, ""},              // a catch-all
      {"@catch.org", K::kRefused, ""},                    // any address the domain does not list
      {"nobody@catch-alias.org", K::kRefused, ""},        // a catch-all through an alias domain
      {"@catch-alias.org", K::kRefused, ""},              //
      {"via@example.com", K::kRefused, ""},               // an alias to a catch-all's address
      {"fwd@example.com", K::kRefused, ""},               // a mailbox forwarding only there
      {"keep@example.com", K::kOne, "keep@example.com"},  // ... keeping a copy
      {"live@catch.org", K::kOne, "live@catch.org"},      // listed at the catch-all domain
      {"team@example.com", K::kOne, "bob@example.com"},   // several: the others
      {"team@alias.net", K::kOne, "bob@example.com"},
      {"mixed@example.com", K::kOne, "x@elsewhere.net"},
      {"full@example.com", K::kOne, "quinn@example.com"},
      {"full@alias.net", K::kOne, "quinn@example.com"},
      {"quinn@alias.net", K::kOne, "quinn@example.com"},
      {"crew@example.com", K::kMany, ""},
      {"nobody@example.com", K::kOne, "nobody@example.com"},  // unknown, no catch-all: Postfix refuses it
      {"x@elsewhere.net", K::kOne, "x@elsewhere.net"},
  };
  Snapshot snap = policy_sample();
  CheckedRows rows = check_rows(snap);
  EXPECT_EQ(rows.receive_off, (std::vector<std::string_view>{"demo@example.com"}));
  VirtualMap map = build_virtual_map(rows);
  Routes routes(rows, map.lines);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.address);
    Reach r = routes.reach(c.address);
    EXPECT_EQ(r.kind, c.kind);
    if (c.kind == K::kOne) {
      EXPECT_EQ(r.to, c.to);
    }
  }
}

TEST(RoutesTest, LoopsAreNeverRefusedAndLongChainsAreFollowed) {
  // The store refuses loops; rows read back are untrusted all the same.
  Snapshot s;
  s.domains = {"example.com"};
  s.users = {user("demo", "example.com")};
  s.aliases = {alias("a@example.com", {"b@example.com"}), alias("b@example.com", {"a@example.com"}),
               alias("into@example.com", {"a@example.com"}),
               alias("both@example.com", {"a@example.com", "demo@example.com"})};
  const int kChain = 20000;  // deeper than a recursive walk's stack would like
  for (int i = 0; i < kChain; ++i) {
    s.aliases.push_back(alias("c" + std::to_string(i) + "@example.com",
                              {i + 1 < kChain ? "c" + std::to_string(i + 1) + "@example.com" : "demo@example.com"}));
  }
  s.denied = {AccessDenial{"demo@example.com", "receive"}};
  CheckedRows rows = check_rows(s);
  VirtualMap map = build_virtual_map(rows);
  Routes routes(rows, map.lines);
  for (const char* looping : {"a@example.com", "b@example.com", "into@example.com", "both@example.com"}) {
    EXPECT_EQ(routes.reach(looping).kind, Reach::Kind::kMany) << looping;
  }
  EXPECT_EQ(routes.reach("c0@example.com").kind, Reach::Kind::kRefused);
  EXPECT_EQ(routes.reach("c19999@example.com").kind, Reach::Kind::kRefused);
  std::string access = render_recipient_access(rows);
  EXPECT_EQ(access.find("a@example.com"), std::string::npos);
  EXPECT_NE(access.find("\nc19999@example.com 550"), std::string::npos);
  EXPECT_NE(access.find("c0@example.com 550"), std::string::npos);
}

TEST(RoutesTest, RecipientAccessRefusesEveryAddressThatReachesOnlyReceiveOff) {
  Snapshot snap = policy_sample();  // the rows point into it
  CheckedRows rows = check_rows(snap);
  const std::string refuse = " 550 5.7.1 this mailbox does not accept mail\n";
  EXPECT_EQ(render_recipient_access(rows),
            "catch-alias.org" + refuse +  // every address the domain does not list ...
                "catch.org" + refuse + "demo@alias.net" + refuse + "demo@example.com" + refuse + "desk@alias.net" +
                refuse + "desk@example.com" + refuse + "fwd@alias.net" + refuse + "fwd@example.com" + refuse +
                "live@catch-alias.org DUNNO\n"  // ... but not those it lists
                "live@catch.org DUNNO\n"
                "sales@alias.net" +
                refuse + "sales@example.com" + refuse + "twice@alias.net" + refuse + "twice@example.com" + refuse +
                "via@alias.net" + refuse + "via@example.com" + refuse);
  // Nobody with receive=off: an empty map, as before.
  Snapshot s = policy_sample();
  s.denied.erase(s.denied.begin());
  EXPECT_EQ(render_recipient_access(check_rows(s)), "");
}

TEST(RoutesTest, VirtualLeavesOutDestinationsThatReachOnlyReceiveOff) {
  Snapshot snap = policy_sample();
  std::string virt = render_virtual(snap);
  auto line = [&virt](const std::string& key) {
    size_t at = virt.find("\n" + key + " ");
    if (at == std::string::npos) return std::string();
    size_t end = virt.find('\n', at + 1);
    return virt.substr(at + 1, end - at - 1);
  };
  // Several destinations: the refused ones go, the rest stay.
  EXPECT_EQ(line("team@example.com"), "team@example.com bob@example.com");
  EXPECT_EQ(line("mixed@example.com"), "mixed@example.com x@elsewhere.net");
  EXPECT_EQ(line("keep@example.com"), "keep@example.com keep@example.com");
  // Only refused ones: the line stays whole (recipient_access refuses it).
  EXPECT_EQ(line("sales@example.com"), "sales@example.com demo@example.com");
  EXPECT_EQ(line("twice@example.com"), "twice@example.com demo@example.com,sales@example.com");
  EXPECT_EQ(line("demo@example.com"), "demo@example.com demo@example.com");
  EXPECT_EQ(virt.substr(0, virt.find('\n')), "@catch-alias.org @catch.org");
  // Unchanged where nothing is refused.
  EXPECT_EQ(line("team@alias.net"), "team@alias.net team@example.com");
  EXPECT_EQ(line("crew@example.com"), "crew@example.com quinn@example.com,bob@example.com");
  Snapshot on = policy_sample();
  on.denied.clear();
  EXPECT_NE(render_virtual(on), virt);
  EXPECT_NE(render_virtual(on).find("\nteam@example.com demo@example.com,bob@example.com\n"), std::string::npos);
}

TEST(RoutesTest, AliasQuotasJudgeAnAddressByTheOneMailboxItReaches) {
  Settings settings;
  settings.mail_dir = "/var/mail/vhosts";
  const std::string quinn = "::5000:5000::/var/mail/vhosts/example.com/quinn::userdb_quota_rule=*:bytes=1000\n";
  // Not crew (two mailboxes), not quinn itself (in the users file), not
  // team (bob has no quota), never a catch-all.
  EXPECT_EQ(render_alias_quotas(check_rows(policy_sample()), settings),
            "full@alias.net" + quinn + "full@example.com" + quinn + "quinn@alias.net" + quinn);
  // A mailbox whose hash is left out of the users file is no user to Dovecot.
  Snapshot s = policy_sample();
  s.users.back().password = "not-a-hash";
  EXPECT_EQ(render_alias_quotas(check_rows(s), settings), "");
}

TEST(RoutesTest, SplitDestinations) {
  EXPECT_EQ(split_destinations("a@x.y,b@x.y"), (std::vector<std::string_view>{"a@x.y", "b@x.y"}));
  EXPECT_EQ(split_destinations("a@x.y"), (std::vector<std::string_view>{"a@x.y"}));
  EXPECT_EQ(split_destinations(",a@x.y,,"), (std::vector<std::string_view>{"a@x.y"}));
  EXPECT_TRUE(split_destinations("").empty());
}

}  // namespace
}  // namespace vmail
