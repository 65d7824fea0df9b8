// One place for each fact: the Store (src/core) is the only writer of the
// database, so no SQL text lives outside src/core and src/pg (PostgreSQL's
// side of the store). src/lookup, which the NSS module links and which may
// not use vmail_core, only reads: it may hold SELECTs, never a write. Test
// files are exempt (they set up rows directly), and so are migrations/ and
// schema/ (SQL files, not C++). The row helpers of src/core/store_rows.h stay
// inside src/core.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace vmail {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The contents of the C++ string literals of `text` (plain "..." ones;
// adjacent pieces, as the compiler joins them, are one), comments skipped.
std::vector<std::string> string_literals(const std::string& text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 2, "//") == 0) {
      i = text.find('\n', i);
      if (i == std::string::npos) break;
    } else if (text.compare(i, 2, "/*") == 0) {
      i = text.find("*/", i + 2);
      if (i == std::string::npos) break;
      ++i;
    } else if (text[i] == '\'') {
      // A character literal ('"' must not open a string).
      size_t end = i + 1;
      while (end < text.size() && text[end] != '\'') end += text[end] == '\\' ? 2 : 1;
      i = end;
    } else if (text[i] == '"') {
      std::string literal;
      size_t end = i;
      while (end < text.size() && text[end] == '"') {
        ++end;
        while (end < text.size() && text[end] != '"') {
          if (text[end] == '\\' && end + 1 < text.size()) literal += text[end++];
          literal += text[end++];
        }
        size_t next = text.find_first_not_of(" \t\n", end + 1);
        if (next == std::string::npos || text[next] != '"') break;
        end = next;
      }
      out.push_back(literal);
      i = end;
    }
  }
  return out;
}

const std::regex& any_sql() {
  static const std::regex re(
      R"(\b(SELECT\s.*\bFROM\b|INSERT\s+(OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|REPLACE\s+INTO\b|)"
      R"(CREATE\s+(TABLE|INDEX|TRIGGER|VIEW)\b|DROP\s+(TABLE|INDEX|TRIGGER)\b|ALTER\s+TABLE\b|PRAGMA\s+\w+|)"
      R"(BEGIN\s+(IMMEDIATE|EXCLUSIVE|DEFERRED|TRANSACTION)\b|SAVEPOINT\b))");
  return re;
}

const std::regex& writing_sql() {
  static const std::regex re(
      R"(\b(INSERT\s+(OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|REPLACE\s+INTO\b|)"
      R"(CREATE\s+(TABLE|INDEX|TRIGGER|VIEW)\b|DROP\s+(TABLE|INDEX|TRIGGER)\b|ALTER\s+TABLE\b))");
  return re;
}

bool is_test_file(const fs::path& path) {
  std::string name = path.filename().string();
  return name.ends_with("_test.cc") || name == "test_util.h";
}

// Every SQL literal outside src/core and src/pg, as "path: literal".
std::vector<std::string> sql_outside_core(const fs::path& root) {
  std::vector<std::string> found;
  for (const char* top : {"src", "cli", "exporters", "nss", "fuzz", "bench"}) {
    if (!fs::exists(root / top)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / top)) {
      if (!entry.is_regular_file()) continue;
      const fs::path& path = entry.path();
      std::string ext = path.extension().string();
      if (ext != ".cc" && ext != ".h" && ext != ".cpp" && ext != ".hpp") continue;
      std::string rel = fs::relative(path, root).string();
      if (rel.starts_with("src/core/") || rel.starts_with("src/pg/") || is_test_file(path)) continue;
      const std::regex& rule = rel.starts_with("src/lookup/") ? writing_sql() : any_sql();
      for (const std::string& literal : string_literals(read_all(path))) {
        if (std::regex_search(literal, rule)) found.push_back(rel + ": \"" + literal + "\"");
      }
    }
  }
  return found;
}

TEST(SqlTextTest, NoSqlOutsideCore) {
  std::vector<std::string> found = sql_outside_core(VMAIL_SOURCE_DIR);
  std::string list;
  for (const std::string& f : found) list += "\n  " + f;
  EXPECT_TRUE(found.empty()) << "SQL outside src/core and src/pg (add a Store or Database method instead):" << list;
}

TEST(SqlTextTest, StoreRowsStayInCore) {
  const fs::path root = VMAIL_SOURCE_DIR;
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    std::string rel = fs::relative(entry.path(), root).string();
    if (rel.starts_with("build") || rel.starts_with(".git") || rel.starts_with("src/core/")) continue;
    std::string ext = entry.path().extension().string();
    if (ext != ".cc" && ext != ".h") continue;
    if (read_all(entry.path()).find("core/store_rows.h") != std::string::npos) found.push_back(rel);
  }
  std::string list;
  for (const std::string& f : found) list += "\n  " + f;
  EXPECT_TRUE(found.empty()) << "core/store_rows.h is internal to src/core:" << list;
}

// The scanner itself: it finds SQL in literals, not in comments or in
// words that merely look like it.
TEST(SqlTextTest, ScannerFindsSql) {
  std::string code =
      "// SELECT x FROM y in a comment\n"
      "const char* a = \"SELECT id FROM domains WHERE name = ?\";\n"
      "char q = '\"'; auto b = \"INSERT INTO t (a) VALUES (?)\";\n"
      "auto c = \"-----BEGIN PRIVATE KEY-----\"; auto d = \"select a mailbox\";\n"
      "auto e = \"SELECT a, b \"\n    \"FROM t\";\n";
  std::vector<std::string> literals = string_literals(code);
  ASSERT_EQ(literals.size(), 5u);
  EXPECT_TRUE(std::regex_search(literals[0], any_sql()));
  EXPECT_TRUE(std::regex_search(literals[1], writing_sql()));
  EXPECT_FALSE(std::regex_search(literals[2], any_sql()));
  EXPECT_FALSE(std::regex_search(literals[3], any_sql()));
  EXPECT_EQ(literals[4], "SELECT a, b FROM t") << "adjacent pieces are one literal";
  EXPECT_TRUE(std::regex_search(literals[4], any_sql()));
}

}  // namespace
}  // namespace vmail
