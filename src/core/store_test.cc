#include "core/store.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/test_util.h"

namespace vmail {
namespace {

class StoreTest : public testing::StoreFixture {
 protected:
  User user(const std::string& local, const std::string& domain = "example.com") {
    User u;
    u.local = local;
    u.domain = domain;
    u.address = local + "@" + domain;
    u.password = "{SHA512-CRYPT}$6$salt$hash";
    return u;
  }
};

TEST_F(StoreTest, DomainConflictsAndLookups) {
  EXPECT_EQ(store_->add_domain("example.com").code(), Code::kBadInput);
  EXPECT_EQ(store_->delete_domain("nope.com", false, nullptr).code(), Code::kNotFound);
  auto list = store_->list_domains();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "example.com");
}

TEST_F(StoreTest, UserLifecycle) {
  User u = user("alice");
  u.name = "Alice";
  u.quota = 1024;
  ASSERT_TRUE(store_->add_user(u).ok());
  EXPECT_EQ(store_->add_user(u).code(), Code::kBadInput);
  EXPECT_EQ(store_->add_user(user("bob", "unknown.org")).code(), Code::kNotFound);
  auto got = store_->get_user("alice@example.com");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "Alice");
  EXPECT_EQ(got->quota, 1024u);
  EXPECT_TRUE(got->enabled);
  EXPECT_FALSE(got->created.empty());

  ASSERT_TRUE(store_->set_enabled("alice@example.com", false).ok());
  ASSERT_TRUE(store_->set_quota("alice@example.com", std::nullopt).ok());
  ASSERT_TRUE(store_->set_password("alice@example.com", "{BLF-CRYPT}$2b$05$x").ok());
  got = store_->get_user("alice@example.com");
  EXPECT_FALSE(got->enabled);
  EXPECT_FALSE(got->quota.has_value());
  EXPECT_EQ(got->password, "{BLF-CRYPT}$2b$05$x");
  EXPECT_EQ(store_->set_enabled("nobody@example.com", true).code(), Code::kNotFound);

  User removed;
  ASSERT_TRUE(store_->delete_user("alice@example.com", &removed).ok());
  EXPECT_EQ(removed.local, "alice");
  EXPECT_EQ(store_->delete_user("alice@example.com", nullptr).code(), Code::kNotFound);
}

TEST_F(StoreTest, FailedHookRollsBackTheInsert) {
  Status s = store_->add_user(user("carol"), [](const User&) { return Status(Code::kCantCreate, "disk says no"); });
  EXPECT_EQ(s.code(), Code::kCantCreate);
  EXPECT_EQ(store_->get_user("carol@example.com").status().code(), Code::kNotFound);
}

TEST_F(StoreTest, CheckNewUserRefusesWhatAddUserWould) {
  ASSERT_TRUE(store_->add_user(user("alice")).ok());
  ASSERT_TRUE(store_->add_alias(Address{"sales", "example.com"}, {"alice@example.com"}).ok());
  EXPECT_TRUE(store_->check_new_user(Address{"bob", "example.com"}).ok());
  EXPECT_EQ(store_->check_new_user(Address{"alice", "example.com"}).code(), Code::kBadInput);
  EXPECT_EQ(store_->check_new_user(Address{"sales", "example.com"}).code(), Code::kBadInput);
  EXPECT_EQ(store_->check_new_user(Address{"bob", "unknown.org"}).code(), Code::kNotFound);
}

// A vacation change is a file in the home: its audit entry commits with the
// file's change or not at all, and "off" while off records nothing.
TEST_F(StoreTest, VacationChangesAreAudited) {
  ASSERT_TRUE(store_->add_user(user("alice")).ok());
  auto entries = [&] { return read_audit_log(*db_, std::nullopt, 100)->size(); };
  size_t before = entries();
  auto on = [](nlohmann::json& old_value, nlohmann::json& new_value) {
    old_value = nullptr;
    new_value = {{"subject", "Away"}};
    return Status::Ok();
  };
  ASSERT_TRUE(store_->record_vacation("alice@example.com", on).ok());
  EXPECT_EQ(entries(), before + 1);
  auto failed = [](nlohmann::json&, nlohmann::json& new_value) {
    new_value = {{"subject", "Away"}};
    return Status(Code::kCantCreate, "disk says no");
  };
  EXPECT_EQ(store_->record_vacation("alice@example.com", failed).code(), Code::kCantCreate);
  auto nothing = [](nlohmann::json&, nlohmann::json&) { return Status::Ok(); };
  ASSERT_TRUE(store_->record_vacation("alice@example.com", nothing).ok());
  EXPECT_EQ(entries(), before + 1);
  bool ran = false;
  auto must_not_run = [&](nlohmann::json&, nlohmann::json&) {
    ran = true;
    return Status::Ok();
  };
  EXPECT_EQ(store_->record_vacation("nobody@example.com", must_not_run).code(), Code::kNotFound);
  EXPECT_FALSE(ran);
}

TEST_F(StoreTest, MailboxOrAliasNeverBoth) {
  ASSERT_TRUE(store_->add_user(user("alice")).ok());
  EXPECT_EQ(store_->add_alias(Address{"alice", "example.com"}, {"bob@other.org"}).code(), Code::kBadInput);
  ASSERT_TRUE(store_->add_alias(Address{"sales", "example.com"}, {"alice@example.com"}).ok());
  EXPECT_EQ(store_->add_user(user("sales")).code(), Code::kBadInput);
}

TEST_F(StoreTest, AliasDestinationsAccumulateAndShrink) {
  Address sales{"sales", "example.com"};
  ASSERT_TRUE(store_->add_alias(sales, {"a@x.org", "b@x.org"}).ok());
  ASSERT_TRUE(store_->add_alias(sales, {"c@x.org"}).ok());
  EXPECT_EQ(store_->add_alias(sales, {"a@x.org"}).code(), Code::kBadInput);
  EXPECT_EQ(store_->add_alias(Address{"x", "nope.org"}, {"a@x.org"}).code(), Code::kNotFound);
  auto list = store_->list_aliases(std::nullopt);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].destinations, (std::vector<std::string>{"a@x.org", "b@x.org", "c@x.org"}));

  ASSERT_TRUE(store_->delete_alias("sales@example.com", std::string("b@x.org")).ok());
  EXPECT_EQ(store_->delete_alias("sales@example.com", std::string("b@x.org")).code(), Code::kNotFound);
  ASSERT_TRUE(store_->delete_alias("sales@example.com", std::string("a@x.org")).ok());
  ASSERT_TRUE(store_->delete_alias("sales@example.com", std::string("c@x.org")).ok());
  EXPECT_TRUE(store_->list_aliases(std::nullopt)->empty()) << "last destination removes the alias";

  ASSERT_TRUE(store_->add_alias(Address{"", "example.com"}, {"a@x.org"}).ok());
  EXPECT_EQ((*store_->list_aliases(std::string("example.com")))[0].source, "@example.com");
  ASSERT_TRUE(store_->delete_alias("@example.com", std::nullopt).ok());
}

TEST_F(StoreTest, DomainDeleteRefusesWhileInUse) {
  ASSERT_TRUE(store_->add_user(user("alice")).ok());
  ASSERT_TRUE(store_->add_alias(Address{"sales", "example.com"}, {"alice@example.com"}).ok());
  EXPECT_EQ(store_->delete_domain("example.com", false, nullptr).code(), Code::kBadInput);
  EXPECT_EQ(store_->list_users(std::nullopt)->size(), 1u);
  std::vector<User> removed;
  ASSERT_TRUE(store_->delete_domain("example.com", true, &removed).ok());
  EXPECT_EQ(removed.size(), 1u);
  EXPECT_TRUE(store_->list_users(std::nullopt)->empty());
  EXPECT_TRUE(store_->list_aliases(std::nullopt)->empty());
  EXPECT_TRUE(store_->list_domains()->empty());
}

TEST_F(StoreTest, SnapshotIsSorted) {
  for (const char* l : {"zed", "amy", "mia"}) ASSERT_TRUE(store_->add_user(user(l)).ok());
  auto snap = store_->snapshot();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->users.size(), 3u);
  EXPECT_EQ(snap->users[0].local, "amy");
  EXPECT_EQ(snap->users[2].local, "zed");
  EXPECT_EQ(store_->list_users(std::string("other.org")).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace vmail
