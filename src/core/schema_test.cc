// Migrating an empty database yields exactly schema/schema.sql; a newer
// database is refused untouched.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/database.h"
#include "core/files.h"
#include "tests/test_util.h"

namespace vmail {
namespace {

using testing::TempDir;

std::vector<std::string> schema_of(SQLite::Database& db) {
  std::vector<std::string> out;
  SQLite::Statement q(db, "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name");
  while (q.executeStep()) {
    out.push_back(q.getColumn(0).getString() + "|" + q.getColumn(1).getString() + "|" + q.getColumn(2).getString() +
                  "|" + q.getColumn(3).getString());
  }
  return out;
}

TEST(SchemaTest, MigrationsYieldSchemaSql) {
  TempDir dir;
  auto migrated = Database::open_migrated(dir.path() + "/migrated.db");
  ASSERT_TRUE(migrated.ok()) << migrated.status().message();
  EXPECT_EQ((*migrated)->version(), Database::latest());

  std::ifstream in(std::string(VMAIL_SOURCE_DIR) + "/schema/schema.sql");
  std::stringstream sql;
  sql << in.rdbuf();
  SQLite::Database reference(dir.path() + "/reference.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  reference.exec(sql.str());

  EXPECT_EQ(schema_of((*migrated)->sql()), schema_of(reference));
  EXPECT_FALSE(schema_of(reference).empty());
}

TEST(SchemaTest, JournalModeOtherThanWalIsRefused) {
  EXPECT_TRUE(check_journal_mode("/x/vmail.db", "wal").ok());
  for (const char* mode : {"delete", "memory", "truncate", "off", ""}) {
    Status s = check_journal_mode("/x/vmail.db", mode);
    EXPECT_EQ(s.code(), Code::kConfig) << mode;
    EXPECT_NE(s.message().find("/x/vmail.db"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("WAL"), std::string::npos) << s.message();
  }
}

TEST(SchemaTest, NewDatabaseIsInWalMode) {
  testing::TempDir dir;
  auto db = Database::open_migrated(dir.path() + "/vmail.db");
  ASSERT_TRUE(db.ok()) << db.status().message();
  EXPECT_EQ((*db)->sql().execAndGet("PRAGMA journal_mode").getString(), "wal");
}

// A change reported done survives power loss (SPEC "Deployment on volumes").
TEST(SchemaTest, CommitsAreSynchronousFull) {
  testing::TempDir dir;
  auto db = Database::open_migrated(dir.path() + "/vmail.db");
  ASSERT_TRUE(db.ok()) << db.status().message();
  EXPECT_EQ((*db)->sql().execAndGet("PRAGMA synchronous").getInt(), 2);  // FULL
}

TEST(SchemaTest, MigrateTwiceIsANoOp) {
  TempDir dir;
  std::string path = dir.path() + "/v.db";
  ASSERT_TRUE(Database::open_migrated(path).ok());
  auto again = Database::open_migrated(path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->version(), Database::latest());
}

TEST(SchemaTest, NewDatabaseIsPrivateAndFolderCreated) {
  TempDir dir;
  std::string path = dir.path() + "/state/sub/vmail.db";
  ASSERT_TRUE(Database::open_migrated(path).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(SchemaTest, NewerDatabaseIsRefusedUntouched) {
  TempDir dir;
  std::string path = dir.path() + "/future.db";
  {
    auto db = Database::open_migrated(path);
    ASSERT_TRUE(db.ok());
    (*db)->sql().exec("PRAGMA user_version = " + std::to_string(Database::latest() + 1));
  }
  auto before = read_file(path);
  auto db = Database::open_migrated(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::kConfig);
  EXPECT_NE(db.status().message().find("newer"), std::string::npos);
  EXPECT_EQ(**read_file(path), **before);
}

TEST(SchemaTest, ConstraintsGuardHandEdits) {
  TempDir dir;
  auto db = Database::open_migrated(dir.path() + "/c.db");
  ASSERT_TRUE(db.ok());
  auto& sql = (*db)->sql();
  sql.exec("INSERT INTO domains (name) VALUES ('example.com')");
  EXPECT_THROW(sql.exec("INSERT INTO domains (name) VALUES ('Example.ORG')"), SQLite::Exception);
  sql.exec("INSERT INTO users (domain_id, local, address, password) VALUES (1, 'a', 'a@example.com', '{X}y')");
  EXPECT_THROW(sql.exec("INSERT INTO aliases (domain_id, source) VALUES (1, 'a@example.com')"), SQLite::Exception);
  sql.exec("INSERT INTO aliases (domain_id, source) VALUES (1, 'b@example.com')");
  EXPECT_THROW(
      sql.exec("INSERT INTO users (domain_id, local, address, password) VALUES (1, 'b', 'b@example.com', '{X}y')"),
      SQLite::Exception);
  EXPECT_THROW(sql.exec("INSERT INTO users (domain_id, local, address, password) VALUES (9, 'c', 'c@x.com', '{X}y')"),
               SQLite::Exception);
}

}  // namespace
}  // namespace vmail
