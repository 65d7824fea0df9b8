// Reader freshness (lookup/reader.h): the database's stamp, the URI, and a
// cached connection that follows every commit, immutable only while no -wal
// file exists.
#include "lookup/reader.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "tests/test_util.h"

namespace vmail {
namespace {

// Runs `sql` on a fresh connection to `path` and closes it.
void exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

// SELECT count(*) FROM t through this thread's cached reader.
int count_rows(const std::string& path, LookupStatus* status) {
  int n = -1;
  *status = with_reader(path, nullptr, [&](Reader& r) {
    int rc = SQLITE_OK;
    sqlite3_stmt* s = r.stmt(0, "SELECT count(*) FROM t", &rc);
    if (s == nullptr) return sqlite_failure(rc, r.path(), r.db(), nullptr);
    Resetter reset(s);
    if (sqlite3_step(s) != SQLITE_ROW) return LookupStatus::kUnavailable;
    n = sqlite3_column_int(s, 0);
    return LookupStatus::kFound;
  });
  return n;
}

TEST(ReaderTest, FileUriEncodesWhatIsSpecialInAUri) {
  EXPECT_EQ(file_uri("/var/db/vmail.db", "mode=ro"), "file:/var/db/vmail.db?mode=ro");
  EXPECT_EQ(file_uri("/a b/x?y#z%.db", "immutable=1"), "file:/a%20b/x%3Fy%23z%25.db?immutable=1");
}

TEST(ReaderTest, StampOfAMissingFileOrAFolderIsUnavailable) {
  testing::TempDir dir;
  Stamp st;
  LookupFailure failure;
  EXPECT_EQ(read_stamp(dir.path() + "/none.db", &st, &failure), LookupStatus::kUnavailable);
  EXPECT_EQ(failure.code, Code::kNoInput);
  EXPECT_EQ(read_stamp(dir.path(), &st, &failure), LookupStatus::kUnavailable);
  EXPECT_EQ(failure.code, Code::kConfig);
}

TEST(ReaderTest, ImmutableWithoutAWalThenFollowsEveryCommit) {
  testing::TempDir dir;
  std::string path = dir.path() + "/vmail.db";
  exec(path, "CREATE TABLE t(a); INSERT INTO t VALUES (1);");
  ASSERT_FALSE(std::filesystem::exists(path + "-wal"));
  LookupStatus status;
  EXPECT_EQ(count_rows(path, &status), 1);
  EXPECT_EQ(status, LookupStatus::kFound);
  EXPECT_TRUE(cached_reader_is_immutable());
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));  // an immutable read creates nothing

  // A writer in WAL mode that stays open: its -wal holds the commits.
  sqlite3* writer = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &writer), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(writer, "PRAGMA journal_mode=WAL; INSERT INTO t VALUES (2);", nullptr, nullptr, nullptr),
            SQLITE_OK);
  ASSERT_TRUE(std::filesystem::exists(path + "-wal"));
  for (int i = 3; i <= 5; ++i) {
    EXPECT_EQ(count_rows(path, &status), i - 1);
    EXPECT_FALSE(cached_reader_is_immutable());
    ASSERT_EQ(sqlite3_exec(writer, "INSERT INTO t VALUES (0);", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  sqlite3_close(writer);  // the last connection checkpoints and removes the -wal
  EXPECT_EQ(count_rows(path, &status), 5);
  forget_reader();
  EXPECT_FALSE(cached_reader_is_immutable());
}

TEST(ReaderTest, ReplacedFileIsNeverServedFromTheCache) {
  testing::TempDir dir;
  std::string path = dir.path() + "/vmail.db";
  exec(path, "CREATE TABLE t(a); INSERT INTO t VALUES (1);");
  LookupStatus status;
  EXPECT_EQ(count_rows(path, &status), 1);
  std::string other = dir.path() + "/other.db";
  exec(other, "CREATE TABLE t(a); INSERT INTO t VALUES (1), (2), (3);");
  std::filesystem::rename(other, path);  // a restore: another inode
  EXPECT_EQ(count_rows(path, &status), 3);
  forget_reader();
}

}  // namespace
}  // namespace vmail
