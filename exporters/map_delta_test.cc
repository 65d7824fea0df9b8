// Planning incremental postmap updates: which lines to put, which keys to
// delete, and when to refuse (texts not in the exporters' sorted form, or a
// change too large to be worth it).
#include "exporters/map_delta.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace vmail {
namespace {

struct DeltaCase {
  const char* name;
  std::string old_text;
  std::string new_text;
  bool planned;
  std::string puts;
  std::string deletes;
};

std::string numbered(int n, int skip = -1, const std::string& extra = "") {
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (i == skip) continue;
    char line[64];
    std::snprintf(line, sizeof line, "u%05d@x.test x.test/u%05d/Maildir/\n", i, i);
    out += line;
  }
  return out + extra;
}

// Test names in ctest show the case name, not the struct's bytes.
void PrintTo(const DeltaCase& c, std::ostream* os) { *os << c.name; }

class MapDeltaTest : public ::testing::TestWithParam<DeltaCase> {};

TEST_P(MapDeltaTest, Plans) {
  const DeltaCase& c = GetParam();
  auto delta = plan_map_delta(c.old_text, c.new_text);
  ASSERT_EQ(delta.has_value(), c.planned);
  if (!c.planned) return;
  EXPECT_EQ(delta->puts, c.puts);
  EXPECT_EQ(delta->deletes, c.deletes);
}

INSTANTIATE_TEST_SUITE_P(
    Table, MapDeltaTest,
    ::testing::Values(DeltaCase{"SameText", "a@x a\nb@x b\n", "a@x a\nb@x b\n", true, "", ""},
                      DeltaCase{"AddedInTheMiddle", "a@x a\nc@x c\n", "a@x a\nb@x b\nc@x c\n", true, "b@x b\n", ""},
                      DeltaCase{"AddedFirstAndLast", "b@x b\n", "a@x a\nb@x b\nc@x c\n", true, "a@x a\nc@x c\n", ""},
                      DeltaCase{"Removed", "a@x a\nb@x b\nc@x c\n", "a@x a\nc@x c\n", true, "", "b@x\n"},
                      DeltaCase{"RemovedAll", "a@x a\nb@x b\n", "", true, "", "a@x\nb@x\n"},
                      DeltaCase{"ValueChanged", "a@x a\nb@x b\n", "a@x a\nb@x b,c@y\n", true, "b@x b,c@y\n", ""},
                      DeltaCase{"KeyIsAPrefixOfAnother", "ab@x 1\n", "a@x 2\nab@x 1\n", true, "a@x 2\n", ""},
                      DeltaCase{"Mixed", "a@x 1\nb@x 2\nd@x 4\n", "b@x 22\nc@x 3\nd@x 4\n", true, "b@x 22\nc@x 3\n",
                                "a@x\n"},
                      DeltaCase{"OneOfManyAdded", numbered(1000, 500), numbered(1000), true,
                                "u00500@x.test x.test/u00500/Maildir/\n", ""},
                      // Refused: nothing to diff against, or not our sorted `key value` form.
                      DeltaCase{"NoOldText", "", "a@x a\n", false, "", ""},
                      DeltaCase{"OldUnsorted", "b@x b\na@x a\n", "a@x a\n", false, "", ""},
                      DeltaCase{"NewUnsorted", "a@x a\n", "b@x b\na@x a\n", false, "", ""},
                      DeltaCase{"DuplicateKey", "a@x a\na@x b\n", "a@x a\n", false, "", ""},
                      DeltaCase{"NoFinalNewline", "a@x a", "a@x a\n", false, "", ""},
                      DeltaCase{"NoValue", "a@x\n", "a@x a\n", false, "", ""},
                      DeltaCase{"EmptyKey", " a\n", "a@x a\n", false, "", ""},
                      DeltaCase{"CommentLine", "# a comment\n", "a@x a\n", false, "", ""},
                      // Too much changed: a rebuild is cheaper.
                      DeltaCase{"MostLinesRemoved", numbered(1000), "", false, "", ""},
                      DeltaCase{"ManyAdded", numbered(10), numbered(200), false, "", ""}),
    [](const ::testing::TestParamInfo<DeltaCase>& param_info) { return std::string(param_info.param.name); });

TEST(MapDigestTest, DependsOnTypeAndText) {
  EXPECT_EQ(map_digest("hash", "a b\n"), map_digest("hash", "a b\n"));
  EXPECT_NE(map_digest("hash", "a b\n"), map_digest("lmdb", "a b\n"));
  EXPECT_NE(map_digest("hash", "a b\n"), map_digest("hash", "a c\n"));
  EXPECT_EQ(map_digest_path("/etc/postfix/virtual"), "/etc/postfix/virtual.digest");
}

}  // namespace
}  // namespace vmail
