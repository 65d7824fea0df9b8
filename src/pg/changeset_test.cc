#include "pg/changeset.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "pg/replica.h"
#include "tests/test_util.h"

namespace vmail::pg {
namespace {

// Stands in for the shared store's side of Database::write, recording what
// the replica hands upstream (the PostgreSQL side is covered end to end by
// e2e.test_pg_cluster with a real server).
class RecordingUpstream : public Upstream {
 public:
  Status lock() override {
    ++locks;
    return lock_result;
  }
  Status catch_up(Database&) override { return Status::Ok(); }
  const std::vector<std::string>& tables() const override { return shared_tables(); }
  Status commit(Database&, const std::string& changeset) override {
    changesets.push_back(changeset);
    return commit_result;
  }
  void rollback() noexcept override { ++rollbacks; }

  Status lock_result = Status::Ok();
  Status commit_result = Status::Ok();
  int locks = 0;
  int rollbacks = 0;
  std::vector<std::string> changesets;
};

class ChangesetTest : public vmail::testing::StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    upstream_ = std::make_shared<RecordingUpstream>();
    db_->set_upstream(upstream_);
  }
  User user(const std::string& local) {
    User u;
    u.local = local;
    u.domain = "example.com";
    u.address = local + "@example.com";
    u.password = "{SHA512-CRYPT}$6$salt$hash";
    return u;
  }
  std::vector<Statement> last_statements() {
    auto st = statements_for(db_->sql(), upstream_->changesets.back());
    EXPECT_TRUE(st.ok()) << st.status().message();
    return st.ok() ? *st : std::vector<Statement>{};
  }
  std::shared_ptr<RecordingUpstream> upstream_;
};

TEST_F(ChangesetTest, AddUserBecomesTwoInsertsWithItsAuditEntry) {
  ASSERT_TRUE(store_->add_user(user("alice")).ok());
  auto st = last_statements();
  ASSERT_EQ(st.size(), 2u);
  std::vector<std::string> tables;
  for (const auto& s : st) {
    EXPECT_EQ(s.kind, Statement::Kind::kInsert);
    tables.push_back(s.sql.substr(12, s.sql.find(' ', 12) - 12));
  }
  std::sort(tables.begin(), tables.end());
  EXPECT_EQ(tables, (std::vector<std::string>{"\"audit_log\"", "\"users\""}));
  for (const auto& s : st) {
    if (s.sql.find("\"users\"") == std::string::npos) continue;
    EXPECT_EQ(s.sql.rfind("INSERT INTO \"users\" (\"id\", \"domain_id\", \"local\", \"address\"", 0), 0u) << s.sql;
    EXPECT_EQ(s.params[3], std::optional<std::string>("alice@example.com"));
    EXPECT_EQ(s.params[6], std::nullopt) << "quota NULL stays NULL";
  }
}

TEST_F(ChangesetTest, UpdateSetsOnlyChangedColumnsByKey) {
  ASSERT_TRUE(store_->add_user(user("bob")).ok());
  ASSERT_TRUE(store_->set_quota("bob@example.com", uint64_t{1048576}).ok());
  for (const auto& s : last_statements()) {
    if (s.kind != Statement::Kind::kUpdate) continue;
    EXPECT_EQ(s.sql.rfind("UPDATE \"users\" SET \"quota\" = $1", 0), 0u) << s.sql;
    EXPECT_NE(s.sql.find("WHERE \"id\" = $"), std::string::npos) << s.sql;
    EXPECT_EQ(s.params[0], std::optional<std::string>("1048576"));
  }
}

// PostgreSQL checks ON DELETE RESTRICT at once, deferred or not: children
// must go before their parents (regression: `domain del --force`).
TEST_F(ChangesetTest, DeletesRemoveChildrenBeforeParents) {
  ASSERT_TRUE(store_->add_domain("gone.example").ok());
  User u = user("x");
  u.domain = "gone.example";
  u.address = "x@gone.example";
  ASSERT_TRUE(store_->add_user(u).ok());
  ASSERT_TRUE(store_->delete_domain("gone.example", true, nullptr).ok());
  std::vector<std::string> order;
  for (const auto& s : last_statements()) {
    if (s.kind == Statement::Kind::kDelete) order.push_back(s.sql.substr(12, s.sql.find(' ', 12) - 12));
  }
  auto users = std::find(order.begin(), order.end(), "\"users\"");
  auto domains = std::find(order.begin(), order.end(), "\"domains\"");
  ASSERT_NE(users, order.end());
  ASSERT_NE(domains, order.end());
  EXPECT_LT(users, domains);
}

TEST_F(ChangesetTest, DeletesComeBeforeUpdatesBeforeInserts) {
  ASSERT_TRUE(store_->add_user(user("carol")).ok());
  ASSERT_TRUE(store_->set_forward("carol@example.com", {"x@remote.example"}, true).ok());
  ASSERT_TRUE(store_->set_forward("carol@example.com", {"y@remote.example"}, false).ok());
  auto st = last_statements();
  ASSERT_FALSE(st.empty());
  for (size_t i = 1; i < st.size(); ++i) EXPECT_LE(st[i - 1].kind, st[i].kind) << st[i].sql;
  EXPECT_EQ(st.front().kind, Statement::Kind::kDelete);
  EXPECT_EQ(st.back().kind, Statement::Kind::kInsert);
}

TEST_F(ChangesetTest, UpstreamRefusalLeavesTheReplicaUnchanged) {
  upstream_->commit_result = Status(Code::kBusy, "PostgreSQL db:5432/vmail: connection lost");
  Status s = store_->add_user(user("dave"));
  EXPECT_EQ(s.code(), Code::kBusy);
  EXPECT_EQ(store_->get_user("dave@example.com").status().code(), Code::kNotFound);
  EXPECT_GE(upstream_->rollbacks, 1);

  upstream_->commit_result = Status::Ok();
  upstream_->lock_result = Status(Code::kBusy, "PostgreSQL db:5432/vmail is unreachable");
  size_t before = upstream_->changesets.size();
  EXPECT_EQ(store_->add_user(user("erin")).code(), Code::kBusy);
  EXPECT_EQ(upstream_->changesets.size(), before) << "nothing ran without the lock";
  EXPECT_EQ(store_->get_user("erin@example.com").status().code(), Code::kNotFound);
}

TEST_F(ChangesetTest, RefusedInputNeverReachesUpstream) {
  ASSERT_TRUE(store_->add_user(user("frank")).ok());
  size_t before = upstream_->changesets.size();
  EXPECT_EQ(store_->add_user(user("frank")).code(), Code::kBadInput);
  EXPECT_EQ(upstream_->changesets.size(), before);
}

TEST_F(ChangesetTest, AnEmptyChangesetIsNoStatement) {
  auto none = statements_for(db_->sql(), "");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace vmail::pg
