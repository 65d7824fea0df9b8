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

// The batch import's API: the rows a batch writes read back exactly as those
// of the single commands (same statements: same defaults, ids in the same
// sequence), the schema's triggers still refuse, a failed batch leaves
// nothing, and its audit entry carries the Store's actor.
TEST_F(StoreTest, BatchWritesAsTheSingleCommands) {
  User single = user("single");
  single.name = "Single";
  single.quota = 2048;
  ASSERT_TRUE(store_->add_user(single).ok());
  ASSERT_TRUE(store_->add_alias(Address{"list", "example.com"}, {"single@example.com"}).ok());
  User batched = single;
  batched.local = "batched";
  batched.address = "batched@example.com";
  ASSERT_TRUE(store_
                  ->write_batch([&](StoreBatch& b) -> Status {
                    auto id = b.domain_id("example.com");
                    if (!id.ok()) return id.status();
                    EXPECT_FALSE(b.user_exists("batched@example.com"));
                    b.add_user(*id, batched);
                    EXPECT_TRUE(b.user_exists("batched@example.com"));
                    b.add_alias(*id, "team@example.com", std::nullopt, {"batched@example.com", "single@example.com"});
                    auto list = b.alias_id("list@example.com");
                    EXPECT_TRUE(list.has_value());
                    EXPECT_TRUE(b.has_destination(*list, "single@example.com"));
                    b.add_alias(*id, "list@example.com", list, {"batched@example.com"});
                    EXPECT_EQ(b.stored_hops("team@example.com"),
                              (std::vector<std::string>{"batched@example.com", "single@example.com"}));
                    b.audit("user import", "file.csv", nullptr, nlohmann::json{{"created", 1}});
                    return Status::Ok();
                  })
                  .ok());
  auto a = store_->get_user("single@example.com");
  auto b = store_->get_user("batched@example.com");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(b->name, a->name);
  EXPECT_EQ(b->quota, a->quota);
  EXPECT_EQ(b->enabled, a->enabled);
  EXPECT_EQ(b->password, a->password);
  EXPECT_FALSE(b->created.empty());
  auto aliases = store_->list_aliases(std::nullopt);
  ASSERT_TRUE(aliases.ok());
  ASSERT_EQ(aliases->size(), 2u);
  EXPECT_EQ((*aliases)[0].destinations, (std::vector<std::string>{"single@example.com", "batched@example.com"}));
  EXPECT_EQ((*aliases)[1].destinations, (std::vector<std::string>{"batched@example.com", "single@example.com"}));
  // Ids follow on from the single adds' (the same sequence).
  int64_t single_id = 0, batched_id = 0;
  ASSERT_TRUE(db_->read([&]() -> Status {
                   SQLite::Statement q(db_->sql(), "SELECT address, id FROM users ORDER BY id");
                   while (q.executeStep()) {
                     (q.getColumn(0).getString() == "single@example.com" ? single_id : batched_id) =
                         q.getColumn(1).getInt64();
                   }
                   return Status::Ok();
                 })
                  .ok());
  EXPECT_EQ(batched_id, single_id + 1);

  // Updates keep what the caller does not ask for, and touch `updated`.
  User changed = batched;
  changed.password = "{BLF-CRYPT}$2b$05$y";
  changed.name = "Ignored";
  changed.quota = std::nullopt;
  ASSERT_TRUE(store_
                  ->write_batch([&](StoreBatch& batch) -> Status {
                    batch.update_user(changed, StoreBatch::UserFields{false, true, false});
                    return Status::Ok();
                  })
                  .ok());
  b = store_->get_user("batched@example.com");
  EXPECT_EQ(b->password, "{BLF-CRYPT}$2b$05$y");
  EXPECT_EQ(b->name, "Single");
  EXPECT_FALSE(b->quota.has_value());

  // A trigger still refuses (an alias source as a mailbox): the whole batch
  // rolls back.
  User clash = user("team");
  Status failed = store_->write_batch([&](StoreBatch& batch) -> Status {
    auto id = batch.domain_id("example.com");
    batch.add_user(*id, user("fresh"));
    batch.add_user(*id, clash);
    return Status::Ok();
  });
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(store_->get_user("fresh@example.com").status().code(), Code::kNotFound);

  // Lookups name what the single commands would refuse.
  ASSERT_TRUE(store_->add_alias_domain("alias.org", "example.com").ok());
  ASSERT_TRUE(store_
                  ->read_batch([&](StoreBatch& batch) -> Status {
                    EXPECT_EQ(batch.domain_id("nope.org").status().code(), Code::kNotFound);
                    EXPECT_EQ(batch.domain_id("alias.org").status().code(), Code::kBadInput);
                    return Status::Ok();
                  })
                  .ok());
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
