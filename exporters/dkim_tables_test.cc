// OpenDKIM's KeyTable and SigningTable rendered from a snapshot: active keys
// only, ed25519 before rsa per domain, hostile stored names left out.
#include <gtest/gtest.h>

#include "exporters/dkim_tables.h"

namespace vmail {
namespace {

DkimKey key(const std::string& domain, const std::string& selector, DkimAlgorithm a, DkimState s) {
  return DkimKey{domain, selector, a, "PUB", s, ""};
}

Snapshot sample() {
  Snapshot snap;
  // Snapshot order: domain, ed25519 before rsa.
  snap.dkim_keys = {key("example.com", "ed1", DkimAlgorithm::kEd25519, DkimState::kActive),
                    key("example.com", "old", DkimAlgorithm::kRsa, DkimState::kRetired),
                    key("example.com", "new", DkimAlgorithm::kRsa, DkimState::kActive),
                    key("other.org", "s20261201", DkimAlgorithm::kRsa, DkimState::kActive)};
  return snap;
}

TEST(DkimTablesTest, KeyTableListsActiveKeysWithTheirFiles) {
  Settings s;
  s.state_dir = "/data/state";
  EXPECT_EQ(render_key_table(sample(), s),
            "ed1._domainkey.example.com example.com:ed1:/data/state/dkim/example.com/ed1.private\n"
            "new._domainkey.example.com example.com:new:/data/state/dkim/example.com/new.private\n"
            "s20261201._domainkey.other.org other.org:s20261201:/data/state/dkim/other.org/s20261201.private\n");
}

TEST(DkimTablesTest, SigningTableEd25519FirstThenRsa) {
  EXPECT_EQ(render_signing_table(sample()),
            "*@example.com ed1._domainkey.example.com\n"
            "*@example.com new._domainkey.example.com\n"
            "*@other.org s20261201._domainkey.other.org\n");
}

// A shared store: keys made on another node have no private file here; a
// line naming a missing file would stop OpenDKIM.
TEST(DkimTablesTest, KeysThisNodeCannotUseAreLeftOut) {
  Snapshot snap;
  snap.dkim_keys = {key("a.example", "here", DkimAlgorithm::kRsa, DkimState::kActive),
                    key("b.example", "elsewhere", DkimAlgorithm::kRsa, DkimState::kActive)};
  DkimUsable usable = [](const DkimKey& k) { return k.selector == "here"; };
  std::string keys = render_key_table(snap, Settings{}, {}, usable);
  std::string signing = render_signing_table(snap, {}, usable);
  EXPECT_NE(keys.find("here._domainkey.a.example"), std::string::npos);
  EXPECT_EQ(keys.find("elsewhere"), std::string::npos);
  EXPECT_EQ(signing, "*@a.example here._domainkey.a.example\n");
}

TEST(DkimTablesTest, EmptyWithoutKeys) {
  EXPECT_EQ(render_key_table(Snapshot{}, Settings{}), "");
  EXPECT_EQ(render_signing_table(Snapshot{}), "");
}

TEST(DkimTablesTest, HostileStoredNamesAreLeftOutWithAWarning) {
  Snapshot snap;
  for (auto [domain, selector] : std::vector<std::pair<std::string, std::string>>{{"example.com", "a b"},
                                                                                  {"example.com", "x\n*@evil.com x"},
                                                                                  {"ex ample.com", "s1"},
                                                                                  {"example.com", "a:b"},
                                                                                  {"EXAMPLE.com", "s1"},
                                                                                  {"example.com", "../../x"}}) {
    snap.dkim_keys.push_back(key(domain, selector, DkimAlgorithm::kRsa, DkimState::kActive));
  }
  int warnings = 0;
  auto warn = [&](const std::string&) { ++warnings; };
  EXPECT_EQ(render_key_table(snap, Settings{}, warn), "");
  EXPECT_EQ(render_signing_table(snap, warn), "");
  EXPECT_EQ(warnings, 12);
}

}  // namespace
}  // namespace vmail
