// The audit log: an entry commits with its change, none with a rolled-back
// one, and no entry ever holds a password or hash.
#include "core/audit.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/store.h"
#include "tests/test_util.h"

namespace vmail {
namespace {

using json = nlohmann::json;

constexpr const char* kHash = "{SHA512-CRYPT}$6$auditsalt$secret-hash-text";

class AuditTest : public testing::StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    Actor actor{1234, "alice", "test command"};
    store_ = std::make_unique<Store>(*db_, actor);
  }

  User user(const std::string& local) {
    User u;
    u.local = local;
    u.domain = "example.com";
    u.address = local + "@example.com";
    u.password = kHash;
    return u;
  }

  std::vector<AuditEntry> entries() {
    auto log = read_audit_log(*db_, std::nullopt, 1000);
    EXPECT_TRUE(log.ok()) << log.status().message();
    return log.ok() ? *log : std::vector<AuditEntry>();
  }

  // Every column of every audit row as one text, to search for secrets.
  std::string all_audit_text() {
    std::string out;
    SQLite::Statement q(db_->sql(), "SELECT * FROM audit_log");
    while (q.executeStep()) {
      for (int i = 0; i < q.getColumnCount(); ++i) out += q.getColumn(i).getString() + "|";
    }
    return out;
  }
};

TEST_F(AuditTest, EachChangeRecordsOneEntryNewestFirst) {
  ASSERT_TRUE(store_->add_user(user("bob")).ok());
  ASSERT_TRUE(store_->set_quota("bob@example.com", 1024).ok());
  ASSERT_TRUE(store_->set_enabled("bob@example.com", false).ok());
  ASSERT_TRUE(store_->add_alias(Address{"sales", "example.com"}, {"bob@example.com"}).ok());
  ASSERT_TRUE(store_->add_alias(Address{"sales", "example.com"}, {"x@other.org"}).ok());
  ASSERT_TRUE(store_->delete_alias("sales@example.com", std::string("x@other.org")).ok());
  ASSERT_TRUE(store_->delete_alias("sales@example.com", std::nullopt).ok());
  ASSERT_TRUE(store_->delete_user("bob@example.com", nullptr).ok());
  ASSERT_TRUE(store_->add_domain("other.org").ok());
  ASSERT_TRUE(store_->delete_domain("other.org", false, nullptr).ok());

  auto log = entries();
  // The fixture's own add_domain ran before the actor was set: recorded too.
  ASSERT_EQ(log.size(), 11u);
  std::vector<std::string> actions;
  for (const auto& e : log) actions.insert(actions.begin(), e.action);
  EXPECT_EQ(actions,
            (std::vector<std::string>{"domain add", "user add", "user quota", "user disable", "alias add", "alias add",
                                      "alias del", "alias del", "user del", "domain add", "domain del"}));
  const AuditEntry& quota = log[log.size() - 3];
  EXPECT_EQ(quota.uid, 1234);
  EXPECT_EQ(quota.sudo_user, "alice");
  EXPECT_EQ(quota.command, "test command");
  EXPECT_EQ(quota.object, "bob@example.com");
  EXPECT_EQ(json::parse(quota.old_value), json::parse(R"({"quota":null})"));
  EXPECT_EQ(json::parse(quota.new_value), json::parse(R"({"quota":1024})"));
  EXPECT_EQ(quota.time.size(), 20u) << quota.time;
  const AuditEntry& second_alias = log[log.size() - 6];
  EXPECT_EQ(json::parse(second_alias.old_value), json::parse(R"({"destinations":["bob@example.com"]})"));
  EXPECT_EQ(json::parse(second_alias.new_value), json::parse(R"({"destinations":["bob@example.com","x@other.org"]})"));
  EXPECT_EQ(log[2].new_value, "");  // user del: no new value
  EXPECT_EQ(json::parse(log[2].old_value), json::parse(R"({"name":"","quota":1024,"enabled":false})"));
}

TEST_F(AuditTest, RolledBackChangeLeavesNoEntry) {
  const size_t before = entries().size();
  // Refused before writing, refused after writing (the hook fails), and
  // refused by SQLite (a failing record rolls back with the change).
  EXPECT_EQ(store_->add_domain("example.com").code(), Code::kBadInput);
  EXPECT_EQ(store_->set_password("nobody@example.com", kHash).code(), Code::kNotFound);
  Status hooked = store_->add_user(user("carol"), [](const User&) { return Status(Code::kCantCreate, "disk full"); });
  EXPECT_EQ(hooked.code(), Code::kCantCreate);
  EXPECT_EQ(store_->delete_alias("nope@example.com", std::nullopt).code(), Code::kNotFound);
  EXPECT_EQ(entries().size(), before);
  EXPECT_EQ(store_->get_user("carol@example.com").status().code(), Code::kNotFound);
}

TEST_F(AuditTest, FailedEntryRollsBackTheChange) {
  // A broken audit table makes the change fail whole, never commit unrecorded.
  db_->sql().exec("DROP TABLE audit_log");
  EXPECT_NE(store_->add_user(user("dave")).code(), Code::kOk);
  EXPECT_EQ(store_->get_user("dave@example.com").status().code(), Code::kNotFound);
}

TEST_F(AuditTest, NoPasswordOrHashInAnyEntry) {
  ASSERT_TRUE(store_->add_user(user("erin")).ok());
  ASSERT_TRUE(store_->set_password("erin@example.com", "{BLF-CRYPT}$2b$05$another-secret-hash").ok());
  ASSERT_TRUE(store_->delete_user("erin@example.com", nullptr).ok());
  std::string text = all_audit_text();
  EXPECT_EQ(text.find("secret"), std::string::npos) << text;
  EXPECT_EQ(text.find("CRYPT"), std::string::npos) << text;
  EXPECT_EQ(text.find('$'), std::string::npos) << text;
  auto log = entries();
  ASSERT_GE(log.size(), 3u);
  EXPECT_EQ(log[1].action, "user passwd");
  EXPECT_EQ(json::parse(log[1].new_value), json::parse(R"({"password":"changed"})"));
  EXPECT_EQ(json::parse(log[2].new_value)["password"], "set");
}

TEST_F(AuditTest, SinceAndLimitSelectNewest) {
  for (const char* d : {"a.org", "b.org", "c.org"}) ASSERT_TRUE(store_->add_domain(d).ok());
  auto two = read_audit_log(*db_, std::nullopt, 2);
  ASSERT_TRUE(two.ok());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[0].object, "c.org");
  EXPECT_EQ((*two)[1].object, "b.org");
  auto future = read_audit_log(*db_, std::string("2999-01-01T00:00:00Z"), 50);
  ASSERT_TRUE(future.ok());
  EXPECT_TRUE(future->empty());
  auto past = read_audit_log(*db_, std::string("2000-01-01T00:00:00Z"), 50);
  EXPECT_EQ(past->size(), 4u);
}

TEST(ActorTest, CurrentReadsUidAndCleansSudoUser) {
  ::setenv("SUDO_USER", "mallory\n\x1b[2Jx", 1);
  Actor a = Actor::current("user add");
  ::unsetenv("SUDO_USER");
  EXPECT_EQ(a.uid, static_cast<int64_t>(getuid()));
  EXPECT_EQ(a.sudo_user, "mallory??[2Jx");
  EXPECT_EQ(a.command, "user add");
  EXPECT_EQ(Actor::current("x").sudo_user, "");
}

TEST(ParseSinceTest, GoodTimes) {
  const std::time_t now = 1'800'000'000;  // 2027-01-15T08:00:00Z
  const std::pair<const char*, const char*> good[] = {
      {"2026-11-30", "2026-11-30T00:00:00Z"},
      {"2026-11-30T21:05", "2026-11-30T21:05:00Z"},
      {"2026-11-30T21:05:09Z", "2026-11-30T21:05:09Z"},
      {"2026-11-30 21:05:09", "2026-11-30T21:05:09Z"},
      {"2024-02-29", "2024-02-29T00:00:00Z"},
      {"30s", "2027-01-15T07:59:30Z"},
      {"90m", "2027-01-15T06:30:00Z"},
      {"1h", "2027-01-15T07:00:00Z"},
      {"2d", "2027-01-13T08:00:00Z"},
      {"1w", "2027-01-08T08:00:00Z"},
  };
  for (const auto& [in, out] : good) {
    auto t = parse_since(in, now);
    ASSERT_TRUE(t.ok()) << in << ": " << t.status().message();
    EXPECT_EQ(*t, out) << in;
  }
}

TEST(ParseSinceTest, HostileTimesAreRefusedNamingTheFlag) {
  for (const char* in : {"",
                         "yesterday",
                         "0h",
                         "-1h",
                         "1",
                         "h",
                         "1y",
                         "1.5h",
                         "99999999999d",
                         "2026-13-01",
                         "2026-02-30",
                         "2026-11-30T24:00",
                         "2026-11-30T21:60",
                         "2026-11-30T21",
                         "2026-11-3",
                         "2026-11-30T21:05:09+02:00",
                         "2026-11-30Z1",
                         " 1h",
                         "1h ",
                         "2026-11-30\n"}) {
    auto t = parse_since(in, 1'800'000'000);
    ASSERT_FALSE(t.ok()) << in;
    EXPECT_EQ(t.status().code(), Code::kBadInput) << in;
    EXPECT_EQ(t.status().message().rfind("--since ", 0), 0u) << t.status().message();
    EXPECT_EQ(t.status().message().find('\n'), std::string::npos) << in;
  }
}

}  // namespace
}  // namespace vmail
