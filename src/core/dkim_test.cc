// DKIM names and records (core/dkim.h) and the keys in the store
// (store_dkim.cc): selector rules, TXT splitting, the DNS records, rotation
// states, key files written with their rows and swept without them.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "core/dkim.h"
#include "core/files.h"
#include "core/store.h"
#include "tests/test_util.h"

namespace vmail {
namespace {

TEST(DkimSelectorTest, GoodSelectorsAreKeptLowercase) {
  for (auto [in, out] : std::vector<std::pair<std::string, std::string>>{{"s20261201", "s20261201"},
                                                                         {"S2026", "s2026"},
                                                                         {"a", "a"},
                                                                         {"mail-2", "mail-2"},
                                                                         {std::string(63, 'x'), std::string(63, 'x')},
                                                                         {"0", "0"}}) {
    auto s = normalize_selector(in);
    ASSERT_TRUE(s.ok()) << in << ": " << s.status().message();
    EXPECT_EQ(*s, out);
  }
}

TEST(DkimSelectorTest, HostileSelectorsAreRefusedNamingTheField) {
  for (const std::string& in :
       {std::string(""), std::string(64, 'x'), std::string("-a"), std::string("a-"), std::string("a.b"),
        std::string("a_b"), std::string("a b"), std::string("a\nb"), std::string("../x"), std::string("a/b"),
        std::string("é"), std::string("a:b"), std::string("a\0b", 3)}) {
    auto s = normalize_selector(in);
    ASSERT_FALSE(s.ok()) << quote(in);
    EXPECT_EQ(s.status().code(), Code::kBadInput);
    EXPECT_EQ(s.status().message().rfind("--selector ", 0), 0u) << s.status().message();
    EXPECT_EQ(s.status().message().find('\n'), std::string::npos);
  }
}

TEST(DkimSelectorTest, DateRuleAddsASuffixOnAClash) {
  std::time_t t = 1796083200;  // 2026-12-01T00:00:00Z
  EXPECT_EQ(dkim_selector_for(t, {}), "s20261201");
  EXPECT_EQ(dkim_selector_for(t + 86399, {}), "s20261201");  // still that UTC day
  EXPECT_EQ(dkim_selector_for(t, {"s20261201"}), "s20261201-2");
  EXPECT_EQ(dkim_selector_for(t, {"s20261201", "s20261201-2"}), "s20261201-3");
  EXPECT_EQ(dkim_selector_for(t, {"s20261130"}), "s20261201");
}

TEST(DkimAlgorithmTest, Parse) {
  EXPECT_EQ(*parse_dkim_algorithm("rsa"), DkimAlgorithm::kRsa);
  EXPECT_EQ(*parse_dkim_algorithm("Ed25519"), DkimAlgorithm::kEd25519);
  for (const char* bad : {"", "dsa", "rsa2048", "ed448"}) {
    auto a = parse_dkim_algorithm(bad);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.status().code(), Code::kBadInput);
  }
}

TEST(SplitTxtTest, PiecesOfAtMost255Bytes) {
  EXPECT_EQ(split_txt(""), std::vector<std::string>{""});
  EXPECT_EQ(split_txt("v=spf1 mx -all"), std::vector<std::string>{"v=spf1 mx -all"});
  EXPECT_EQ(split_txt(std::string(255, 'a')).size(), 1u);
  EXPECT_EQ(split_txt(std::string(256, 'a')), (std::vector<std::string>{std::string(255, 'a'), "a"}));
  // A 4096-bit RSA key: 550 bytes of SubjectPublicKeyInfo, 736 of base64.
  std::string value = "v=DKIM1; k=rsa; p=" + std::string(736, 'Q');
  auto pieces = split_txt(value);
  ASSERT_EQ(pieces.size(), 3u);
  std::string joined;
  for (const auto& p : pieces) {
    EXPECT_LE(p.size(), 255u);
    joined += p;
  }
  EXPECT_EQ(joined, value);
  EXPECT_EQ(pieces[0].size(), 255u);
  EXPECT_EQ(pieces[1].size(), 255u);
}

DkimKey key(const std::string& selector, DkimAlgorithm a, DkimState s) {
  return DkimKey{"example.com", selector, a, "PUB" + selector, s, "2026-12-01T00:00:00Z"};
}

TEST(DnsRecordsTest, EveryRecordWithRecordedPorts) {
  DnsTarget target{"mx.example.net", {{"smtps", 10465}, {"submission", 10587}, {"imaps", 10993}, {"pop3s", 10995}}};
  auto records = dns_records(
      "example.com", target,
      {key("new", DkimAlgorithm::kRsa, DkimState::kActive), key("old", DkimAlgorithm::kRsa, DkimState::kRetired)});
  std::vector<std::string> lines;
  for (const auto& r : records) lines.push_back(r.zone_line());
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "example.com. 3600 IN MX 10 mx.example.net.",
                       "example.com. 3600 IN TXT \"v=spf1 mx -all\"",
                       "new._domainkey.example.com. 3600 IN TXT \"v=DKIM1; k=rsa; p=PUBnew\"",
                       "old._domainkey.example.com. 3600 IN TXT \"v=DKIM1; k=rsa; p=PUBold\"",
                       "_dmarc.example.com. 3600 IN TXT \"v=DMARC1; p=quarantine; adkim=s; aspf=s; "
                       "rua=mailto:postmaster@example.com\"",
                       "_mta-sts.example.com. 3600 IN TXT \"v=STSv1; id=" +
                           mta_sts_policy_id(mta_sts_policy(target, "testing")) + "\"",
                       "mta-sts.example.com. 3600 IN CNAME mx.example.net.",
                       "_smtp._tls.example.com. 3600 IN TXT \"v=TLSRPTv1; rua=mailto:postmaster@example.com\"",
                       "_submissions._tcp.example.com. 3600 IN SRV 0 1 10465 mx.example.net.",
                       "_submission._tcp.example.com. 3600 IN SRV 0 1 10587 mx.example.net.",
                       "_imaps._tcp.example.com. 3600 IN SRV 0 1 10993 mx.example.net.",
                       "_pop3s._tcp.example.com. 3600 IN SRV 0 1 10995 mx.example.net.",
                   }));
  EXPECT_FALSE(records[0].strings.has_value());
  ASSERT_TRUE(records[2].strings.has_value());
}

TEST(DnsRecordsTest, StandardPortsWhenNoneRecorded) {
  auto records = dns_records("example.com", DnsTarget{"mail.example.com", {}}, {});
  ASSERT_EQ(records.size(), 10u);  // no DKIM record without a key
  EXPECT_EQ(records[6].value, "0 1 465 mail.example.com.");
  EXPECT_EQ(records[7].value, "0 1 587 mail.example.com.");
  EXPECT_EQ(records[8].value, "0 1 993 mail.example.com.");
  EXPECT_EQ(records[9].value, "0 1 995 mail.example.com.");
}

TEST(MtaStsTest, PolicyTextAndAnIdThatFollowsIt) {
  DnsTarget target{"mail.example.com", {}};
  EXPECT_EQ(mta_sts_policy(target, "enforce"),
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n");
  std::string testing = mta_sts_policy_id(mta_sts_policy(target, "testing"));
  std::string enforce = mta_sts_policy_id(mta_sts_policy(target, "enforce"));
  EXPECT_EQ(testing.size(), 16u);
  EXPECT_EQ(testing.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(testing, enforce);  // a new policy gets a new id, so senders fetch it
  EXPECT_EQ(testing, mta_sts_policy_id(mta_sts_policy(target, "testing")));
  // FNV-1a 64 of "" is its offset basis: the id does not depend on std::hash.
  EXPECT_EQ(mta_sts_policy_id(""), "cbf29ce484222325");
  auto records = dns_records("example.com", target, {}, "enforce");
  EXPECT_EQ(records[3].value, "v=STSv1; id=" + enforce);
}

TEST(DnsRecordsTest, LongKeyIsSplitIntoQuotedStrings) {
  DkimKey k = key("s1", DkimAlgorithm::kRsa, DkimState::kActive);
  k.public_key = std::string(736, 'A');
  auto records = dns_records("example.com", DnsTarget{"mail.example.com", {}}, {k});
  const DnsRecord& txt = records[2];
  ASSERT_EQ(txt.strings->size(), 3u);
  EXPECT_EQ(txt.zone_line(), "s1._domainkey.example.com. 3600 IN TXT \"" + (*txt.strings)[0] + "\" \"" +
                                 (*txt.strings)[1] + "\" \"" + (*txt.strings)[2] + "\"");
}

class DkimStoreTest : public testing::StoreFixture {
 protected:
  NewDkimKeys keys(std::vector<std::pair<DkimAlgorithm, std::string>> wanted) {
    NewDkimKeys out;
    out.files.dir = dir_.path() + "/dkim";
    out.now = 1796083200;  // 2026-12-01
    for (auto& [a, selector] : wanted) {
      out.keys.push_back(DkimKeyMaterial{a, "-----BEGIN PRIVATE KEY-----\nsecret-" + selector + "\n", "PUB", selector});
    }
    return out;
  }
  std::vector<std::pair<std::string, std::string>> states() {
    std::vector<std::pair<std::string, std::string>> out;
    auto keys = store_->list_dkim_keys("example.com");
    EXPECT_TRUE(keys.ok());
    for (const auto& k : *keys) {
      out.emplace_back(k.selector,
                       std::string(dkim_algorithm_name(k.algorithm)) + "/" + std::string(dkim_state_name(k.state)));
    }
    return out;
  }
};

TEST_F(DkimStoreTest, RotationRetiresThePreviousKeyOfThatAlgorithmOnly) {
  ASSERT_TRUE(store_->add_dkim_keys("example.com", keys({{DkimAlgorithm::kRsa, ""}}), false).ok());
  ASSERT_TRUE(store_->add_dkim_keys("example.com", keys({{DkimAlgorithm::kEd25519, "ed"}}), false).ok());
  EXPECT_EQ(states(),
            (std::vector<std::pair<std::string, std::string>>{{"ed", "ed25519/active"}, {"s20261201", "rsa/active"}}));
  auto rotated = store_->add_dkim_keys("example.com", keys({{DkimAlgorithm::kRsa, ""}}), true);
  ASSERT_TRUE(rotated.ok()) << rotated.status().message();
  ASSERT_EQ(rotated->size(), 1u);
  EXPECT_EQ((*rotated)[0].selector, "s20261201-2");
  EXPECT_EQ(states(), (std::vector<std::pair<std::string, std::string>>{
                          {"ed", "ed25519/active"}, {"s20261201", "rsa/retired"}, {"s20261201-2", "rsa/active"}}));
  // Without --rotate an algorithm that has an active key gets none.
  auto again = store_->add_dkim_keys("example.com", keys({{DkimAlgorithm::kRsa, "x"}}), false);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST_F(DkimStoreTest, KeyFileIsWrittenPrivateWithItsRow) {
  ASSERT_TRUE(store_->add_dkim_keys("example.com", keys({{DkimAlgorithm::kRsa, "sel"}}), false).ok());
  std::string path = dir_.path() + "/dkim/example.com/sel.private";
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_.path() + "/dkim/example.com").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(**read_file(path), "-----BEGIN PRIVATE KEY-----\nsecret-sel\n");
}

TEST_F(DkimStoreTest, ClashingSelectorOrUnknownDomainChangesNothing) {
  ASSERT_TRUE(store_->add_dkim_keys("example.com", keys({{DkimAlgorithm::kRsa, "sel"}}), false).ok());
  auto before = states();
  auto clash = store_->add_dkim_keys("example.com", keys({{DkimAlgorithm::kRsa, "sel"}}), true);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.status().code(), Code::kBadInput);
  EXPECT_EQ(states(), before);
  auto missing = store_->add_dkim_keys("nowhere.org", keys({{DkimAlgorithm::kRsa, ""}}), false);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/dkim/nowhere.org"));
}

TEST_F(DkimStoreTest, RemoveRefusesTheActiveRsaKey) {
  ASSERT_TRUE(store_->add_dkim_keys("example.com", keys({{DkimAlgorithm::kRsa, "a"}}), false).ok());
  ASSERT_TRUE(store_->add_dkim_keys("example.com", keys({{DkimAlgorithm::kRsa, "b"}}), true).ok());
  DkimKeyFiles files;
  files.dir = dir_.path() + "/dkim";
  EXPECT_EQ(store_->remove_dkim_key("example.com", "b", files).code(), Code::kBadInput);
  EXPECT_EQ(store_->remove_dkim_key("example.com", "zz", files).code(), Code::kNotFound);
  ASSERT_TRUE(store_->remove_dkim_key("example.com", "a", files).ok());
  EXPECT_FALSE(std::filesystem::exists(files.path("example.com", "a")));
  EXPECT_TRUE(std::filesystem::exists(files.path("example.com", "b")));
  EXPECT_EQ(states(), (std::vector<std::pair<std::string, std::string>>{{"b", "rsa/active"}}));
}

// A run killed between its key file and its commit leaves a file no row
// names; the next key change of the domain removes it (and temp files).
TEST_F(DkimStoreTest, OrphanKeyFilesAreSwept) {
  std::string folder = dir_.path() + "/dkim/example.com";
  ASSERT_TRUE(make_dirs(folder, 0700).ok());
  std::ofstream(folder + "/s1.private") << "orphan";
  std::ofstream(folder + "/s1.private.tmpAbC123") << "temp";
  std::ofstream(folder + "/notes.txt") << "admin's";
  ASSERT_TRUE(store_->add_dkim_keys("example.com", keys({{DkimAlgorithm::kRsa, "s2"}}), false).ok());
  EXPECT_FALSE(std::filesystem::exists(folder + "/s1.private"));
  EXPECT_FALSE(std::filesystem::exists(folder + "/s1.private.tmpAbC123"));
  EXPECT_TRUE(std::filesystem::exists(folder + "/notes.txt"));
  EXPECT_TRUE(std::filesystem::exists(folder + "/s2.private"));
}

TEST_F(DkimStoreTest, KeysGoWithTheirDomain) {
  NewDkimKeys k = keys({{DkimAlgorithm::kRsa, ""}});
  ASSERT_TRUE(store_->add_domain("other.org", &k).ok());
  ASSERT_EQ(store_->list_dkim_keys("other.org")->size(), 1u);
  ASSERT_TRUE(store_->delete_domain("other.org", false, nullptr).ok());
  auto n = db_->sql().execAndGet("SELECT count(*) FROM dkim_keys").getInt();
  EXPECT_EQ(n, 0);
  std::string file = k.files.path("other.org", "s20261201");
  EXPECT_TRUE(std::filesystem::exists(file));
  ASSERT_TRUE(store_->sweep_dkim_files(k.files).ok());
  EXPECT_FALSE(std::filesystem::exists(file));
  EXPECT_FALSE(std::filesystem::exists(k.files.dir + "/other.org"));
}

TEST_F(DkimStoreTest, AuditLogNeverHoldsThePrivateKey) {
  ASSERT_TRUE(store_->add_dkim_keys("example.com", keys({{DkimAlgorithm::kRsa, "a"}}), false).ok());
  ASSERT_TRUE(store_->add_dkim_keys("example.com", keys({{DkimAlgorithm::kRsa, "b"}}), true).ok());
  SQLite::Statement q(db_->sql(), "SELECT action, coalesce(old_value, ''), coalesce(new_value, '') FROM audit_log");
  int dkim_entries = 0;
  while (q.executeStep()) {
    std::string row = q.getColumn(0).getString() + q.getColumn(1).getString() + q.getColumn(2).getString();
    EXPECT_EQ(row.find("secret"), std::string::npos) << row;
    EXPECT_EQ(row.find("PRIVATE"), std::string::npos) << row;
    if (row.find("dkim") != std::string::npos) ++dkim_entries;
  }
  EXPECT_EQ(dkim_entries, 2);  // add a; retire a and add b (one change)
}

}  // namespace
}  // namespace vmail
