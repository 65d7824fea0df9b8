// Database::backup_to copies what is there (no migration, never over a file)
// and judges the copy against the original; open_for_reading never creates
// or migrates (issue 23).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/database.h"
#include "core/files.h"
#include "tests/test_util.h"

namespace vmail {
namespace {

using testing::TempDir;

// tests/fixtures/schema-*.sql (each made by the vmail of its schema version) loaded
// into a new database at `path`.
void load_fixture(int version, const std::string& path) {
  std::ifstream in(std::string(VMAIL_SOURCE_DIR) + "/tests/fixtures/schema-" + std::to_string(version) + ".sql");
  ASSERT_TRUE(in) << "fixture schema-" << version;
  std::stringstream sql;
  sql << in.rdbuf();
  SQLite::Database db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  db.exec(sql.str());
}

int file_version(const std::string& path) {
  SQLite::Database db(path, SQLITE_OPEN_READONLY);
  return db.execAndGet("PRAGMA user_version").getInt();
}

int64_t count(const std::string& path, const std::string& table) {
  SQLite::Database db(path, SQLITE_OPEN_READONLY);
  return db.execAndGet("SELECT count(*) FROM " + table).getInt64();
}

// Regression: the copy of a first-release database holding an alias failed
// "its integrity check" (SQLite 3.40 misreads that layout; so does the check
// of the original), so the launcher refused to upgrade it (exit 73).
TEST(BackupTest, FirstSchemaWithAnAliasIsBackedUpAsItIs) {
  TempDir dir;
  std::string path = dir.path() + "/vmail.db", target = dir.path() + "/backup.db";
  load_fixture(1, path);
  ASSERT_GT(count(path, "alias_destinations"), 0);
  auto db = Database::open(path, Database::Mode::kReadOnly);
  ASSERT_TRUE(db.ok()) << db.status().message();
  Status s = (*db)->backup_to(target);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(file_version(target), 1);
  EXPECT_EQ(file_version(path), 1);
  for (const char* table : {"domains", "users", "aliases", "alias_destinations"}) {
    EXPECT_EQ(count(target, table), count(path, table)) << table;
  }
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temp file is left beside it.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 2);
}

TEST(BackupTest, ExistingTargetIsNotReplacedUnlessAsked) {
  TempDir dir;
  std::string target = dir.path() + "/backup.db";
  auto db = Database::open_migrated(dir.path() + "/vmail.db");
  ASSERT_TRUE(db.ok());
  for (const std::string& existing : {std::string("precious\n"), std::string()}) {
    ASSERT_TRUE(write_file_atomic(target, existing, FileOptions{}).ok());
    Status s = (*db)->backup_to(target);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), Code::kCantCreate);
    EXPECT_EQ(s.message(), target + ": exists; a backup never replaces a file");
    EXPECT_EQ(**read_file(target), existing);
  }
  // A symlink (even a dangling one) is never followed or replaced either.
  std::string link = dir.path() + "/link.db";
  ASSERT_EQ(::symlink((dir.path() + "/elsewhere.db").c_str(), link.c_str()), 0);
  EXPECT_EQ((*db)->backup_to(link).code(), Code::kCantCreate);
  EXPECT_FALSE(file_exists(dir.path() + "/elsewhere.db"));
  ASSERT_TRUE((*db)->backup_to(target, true).ok());
  EXPECT_EQ(file_version(target), Database::latest());
}

TEST(OpenForReadingTest, MissingDatabaseIsNeverCreated) {
  TempDir dir;
  std::string path = dir.path() + "/absent/vmail.db";
  auto db = Database::open_for_reading(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::kNoInput);
  EXPECT_EQ(db.status().message(), path + ": no such database (`vmail db migrate` creates it)");
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/absent"));
}

TEST(OpenForReadingTest, OlderSchemaIsReadMigratedInMemoryAndTheFileStays) {
  TempDir dir;
  std::string path = dir.path() + "/vmail.db";
  load_fixture(1, path);
  auto before = read_file(path);
  auto db = Database::open_for_reading(path);
  ASSERT_TRUE(db.ok()) << db.status().message();
  EXPECT_EQ((*db)->version(), Database::latest());
  EXPECT_EQ((*db)->path(), path);
  // Tables of later versions are there to read (empty).
  EXPECT_EQ((*db)->sql().execAndGet("SELECT count(*) FROM audit_log").getInt(), 0);
  EXPECT_EQ((*db)->sql().execAndGet("SELECT count(*) FROM users").getInt64(), count(path, "users"));
  db->reset();
  EXPECT_EQ(file_version(path), 1);
  EXPECT_EQ(**read_file(path), **before);
}

TEST(OpenForReadingTest, NewerSchemaIsRefused) {
  TempDir dir;
  std::string path = dir.path() + "/vmail.db";
  {
    auto db = Database::open_migrated(path);
    ASSERT_TRUE(db.ok());
    (*db)->sql().exec("PRAGMA user_version = " + std::to_string(Database::latest() + 1));
  }
  auto db = Database::open_for_reading(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::kConfig);
}

}  // namespace
}  // namespace vmail
