#include "import/import.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>

#include "core/maildir.h"
#include "core/password.h"
#include "core/store.h"
#include "import/source.h"
#include "tests/test_util.h"

namespace vmail {
namespace {

std::vector<size_t> lines_of(const std::vector<SourceRow>& rows) {
  std::vector<size_t> out;
  for (const auto& r : rows) out.push_back(r.line);
  return out;
}

std::string errors_text(const std::vector<LineError>& errors) {
  std::string out;
  for (const auto& e : errors) out += std::to_string(e.line) + ": " + e.reason + "\n";
  return out;
}

// CSV reader ---------------------------------------------------------------

TEST(CsvReaderTest, QuotesDoubledQuotesCrlfAndBom) {
  SourceTable t = read_csv(
      "\xEF\xBB\xBF"
      "Email,Name\r\n"
      "a@x.test,\"Smith, \"\"Al\"\"\"\r\n"
      "b@x.test,plain\r\n");
  EXPECT_TRUE(t.errors.empty()) << errors_text(t.errors);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"email", "name"}));
  EXPECT_EQ(t.header_line, 1u);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].fields[1], "Smith, \"Al\"");
  EXPECT_EQ(t.rows[1].fields[1], "plain");
  EXPECT_EQ(lines_of(t.rows), (std::vector<size_t>{2, 3}));
}

TEST(CsvReaderTest, NewlineInsideQuotedFieldKeepsLineNumbers) {
  SourceTable t = read_csv("email,name\na@x.test,\"one\ntwo\nthree\"\n\nb@x.test,x\nc@x.test,\"y\r\nz\"");
  EXPECT_TRUE(t.errors.empty()) << errors_text(t.errors);
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.rows[0].fields[1], "one\ntwo\nthree");
  EXPECT_EQ(t.rows[2].fields[1], "y\r\nz");
  // Row 1 spans lines 2-4, line 5 is blank.
  EXPECT_EQ(lines_of(t.rows), (std::vector<size_t>{2, 6, 7}));
}

TEST(CsvReaderTest, SpacesAreKeptAndEmptyFieldsCount) {
  SourceTable t = read_csv("a,b,c\n x , ,\n");
  ASSERT_EQ(t.rows.size(), 1u) << errors_text(t.errors);
  EXPECT_EQ(t.rows[0].fields, (std::vector<std::string>{" x ", " ", ""}));
}

TEST(CsvReaderTest, RejectsHostile) {
  struct Case {
    const char* name;
    std::string data;
    size_t line;
    const char* reason_part;
    size_t good_rows;
  };
  const Case cases[] = {
      {"unterminated quote", "email,name\na@x.test,ok\nb@x.test,\"open\nmore\n", 3, "unterminated", 1},
      {"stray quote", "email,name\na@x.test,ok\nb@x.test,ab\"c\n", 3, "malformed quoting", 1},
      {"text after closing quote", "email,name\nb@x.test,\"ab\"c\n", 2, "malformed quoting", 0},
      {"too many fields", "email,name\na@x.test,1,2\nb@x.test,ok\n", 2, "3 fields, the header has 2", 1},
      {"too few fields", "email,name\na@x.test,1\r\nb@x.test\r\n", 3, "1 fields, the header has 2", 1},
      {"invalid UTF-8", "email,name\na@x.test,\xC3\x28\n", 2, "invalid UTF-8", 0},
      {"overlong UTF-8", "email,name\na@x.test,\xC0\xAF\n", 2, "invalid UTF-8", 0},
      {"empty file", "", 1, "empty file", 0},
      {"only a BOM", "\xEF\xBB\xBF", 1, "empty file", 0},
      {"only blank lines", "\n\r\n\n", 1, "empty file", 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SourceTable t = read_csv(c.data);
    ASSERT_EQ(t.errors.size(), 1u) << errors_text(t.errors);
    EXPECT_EQ(t.errors[0].line, c.line);
    EXPECT_NE(t.errors[0].reason.find(c.reason_part), std::string::npos) << t.errors[0].reason;
    EXPECT_EQ(t.rows.size(), c.good_rows);
  }
}

TEST(CsvReaderTest, HeaderOnlyHasColumnsAndNoRows) {
  SourceTable t = read_csv("email,password\n");
  EXPECT_TRUE(t.errors.empty());
  EXPECT_EQ(t.columns.size(), 2u);
  EXPECT_TRUE(t.rows.empty());
}

// dms readers ----------------------------------------------------------------

TEST(DmsReaderTest, AccountsWithCommentsCrlfAndExtras) {
  SourceTable t = read_dms_accounts(
      "# accounts\r\n"
      "a@x.test|{SHA512-CRYPT}$6$s$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy."
      "g.\r\n"
      "\r\n"
      "b@x.test|{SHA512-CRYPT}$6$t$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy."
      "g.|userdb_mail=maildir:/x\n"
      "c@x.test|{SHA512-CRYPT}$6$u$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy."
      "g.|more\n"
      "no-bar-here\n");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"email", "password_hash"}));
  EXPECT_EQ(lines_of(t.rows), (std::vector<size_t>{2, 4, 5}));
  EXPECT_EQ(
      t.rows[1].fields[1],
      "{SHA512-CRYPT}$6$t$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.");
  ASSERT_EQ(t.warnings.size(), 1u);  // once, not per line
  EXPECT_EQ(t.warnings[0].line, 4u);
  ASSERT_EQ(t.errors.size(), 1u);
  EXPECT_EQ(t.errors[0].line, 6u);
}

TEST(DmsReaderTest, VirtualWithContinuationAndComments) {
  SourceTable t = read_dms_virtual(
      "# aliases\n"
      "a@x.test b@x.test,c@y.test\n"
      "@x.test\tcatch@x.test\n"
      "d@x.test e@x.test,\n"
      "  f@x.test\n"
      "lonely@x.test\n"
      "  orphan@x.test\n");
  EXPECT_EQ(lines_of(t.rows), (std::vector<size_t>{2, 3, 4}));
  EXPECT_EQ(t.rows[1].fields, (std::vector<std::string>{"@x.test", "catch@x.test"}));
  EXPECT_EQ(t.rows[2].fields[1], "e@x.test, f@x.test");
  ASSERT_EQ(t.errors.size(), 2u) << errors_text(t.errors);
  EXPECT_EQ(t.errors[0].line, 6u);
  EXPECT_EQ(t.errors[1].line, 7u);
}

// Import ---------------------------------------------------------------------

class ImportTest : public testing::StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    if (HasFatalFailure()) return;
    settings_.mail_dir = dir_.path() + "/mail";
    settings_.uid = getuid() == 0 ? 5000 : getuid();
    settings_.gid = getgid() == 0 ? 5000 : getgid();
  }

  ImportReport users(const std::string& csv, ImportOptions options = {}) {
    auto r = import_users(*db_, settings_, csv, options);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : ImportReport{};
  }

  size_t user_count() { return store_->list_users(std::nullopt)->size(); }

  Settings settings_;
};

TEST_F(ImportTest, CreatesUsersHashesAndOnlyDomainFolders) {
  ImportOptions options;
  options.jobs = 3;
  auto r = users(
      "email,password,password_hash,quota,name,enabled\n"
      "Alice@Example.com,correct horse,,1G,Alice,yes\n"
      "bob@example.com,,{SHA512-CRYPT}$6$salt$"
      "IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.,,,FALSE\n",
      options);
  EXPECT_TRUE(r.errors.empty()) << errors_text(r.errors);
  EXPECT_EQ(r.created, 2u);
  EXPECT_TRUE(r.written);
  auto alice = store_->get_user("alice@example.com");
  ASSERT_TRUE(alice.ok());
  EXPECT_TRUE(verify_password("correct horse", alice->password));
  EXPECT_EQ(alice->quota, std::optional<uint64_t>(1ULL << 30));
  EXPECT_EQ(alice->name, "Alice");
  auto bob = store_->get_user("bob@example.com");
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(
      bob->password,
      "{SHA512-CRYPT}$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.");
  EXPECT_FALSE(bob->enabled);
  // Dovecot makes each maildir at the first delivery or login.
  struct stat st {};
  EXPECT_EQ(stat((settings_.mail_dir + "/example.com").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_NE(stat((settings_.mail_dir + "/example.com/alice").c_str(), &st), 0);
}

TEST_F(ImportTest, LeftoverMaildirHoldingMailIsABadRowUnlessReused) {
  const std::string hash =
      "{SHA512-CRYPT}$6$s$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.";
  ASSERT_TRUE(create_maildir(settings_.mail_dir, "example.com", "old", settings_.uid, settings_.gid).ok());
  ASSERT_TRUE(create_maildir(settings_.mail_dir, "example.com", "empty", settings_.uid, settings_.gid).ok());
  FILE* f = fopen((settings_.mail_dir + "/example.com/old/Maildir/cur/1.msg:2,S").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  const std::string csv = "email,password_hash\nempty@example.com," + hash + "\nold@example.com," + hash + "\n";
  auto r = users(csv);
  ASSERT_EQ(r.errors.size(), 1u) << errors_text(r.errors);
  EXPECT_EQ(r.errors[0].line, 3u);
  EXPECT_NE(r.errors[0].reason.find("holds mail"), std::string::npos) << r.errors[0].reason;
  EXPECT_EQ(user_count(), 0u);
  ImportOptions reuse;
  reuse.reuse_maildirs = true;
  r = users(csv, reuse);
  EXPECT_TRUE(r.errors.empty()) << errors_text(r.errors);
  EXPECT_EQ(user_count(), 2u);
}

TEST_F(ImportTest, EveryBadRowIsReportedAndNothingIsWritten) {
  ASSERT_TRUE(store_->add_alias(Address{"sales", "example.com"}, {"x@example.com"}).ok());
  auto r = users(
      "email,password,password_hash,quota,enabled\n"
      "good@example.com,correct horse,,,\n"  // 2
      "bob@@example.com,correct horse,,,\n"  // 3
      "c@example.com,correct "
      "horse,{SHA512-CRYPT}$6$s$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.,"
      ",\n"                                             // 4
      "d@example.com,,,,\n"                             // 5
      "e@example.com,short,,,\n"                        // 6
      "f@example.com,correct horse,,12X,\n"             // 7
      "g@example.com,correct horse,,,maybe\n"           // 8
      "GOOD@example.com,correct horse,,,\n"             // 9
      "h@nowhere.com,correct horse,,,\n"                // 10
      "sales@example.com,correct horse,,,\n"            // 11
      "i@example.com,,{MD99}abc,,\n"                    // 12
      "j@example.com,,{SHA512-CRYPT}$6$salt$abc,,\n");  // 13: the checksum is too short
  EXPECT_FALSE(r.written);
  EXPECT_EQ(r.created, 0u);
  std::vector<size_t> lines;
  for (const auto& e : r.errors) lines.push_back(e.line);
  EXPECT_EQ(lines, (std::vector<size_t>{3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})) << errors_text(r.errors);
  EXPECT_EQ(r.errors[10].reason, "password_hash: SHA512-CRYPT checksum must be 86 of ./0-9A-Za-z");
  EXPECT_EQ(r.errors[0].reason, "email \"bob@@example.com\": two '@'");
  EXPECT_NE(r.errors[6].reason.find("duplicate of line 2"), std::string::npos);
  EXPECT_EQ(user_count(), 0u);
  struct stat st {};
  EXPECT_NE(stat((settings_.mail_dir + "/example.com/good").c_str(), &st), 0);
}

TEST_F(ImportTest, HeaderProblems) {
  struct Case {
    const char* csv;
    const char* reason_part;
  };
  const Case cases[] = {
      {"email,password,colour\na@example.com,correct horse,red\n", "column \"colour\": unknown column"},
      {"email,password,email\na@example.com,correct horse,b@example.com\n", "given twice"},
      {"password\ncorrect horse\n", "no \"email\" column"},
      {"email,name\na@example.com,A\n", "needs a \"password\" or \"password_hash\" column"},
      {"email,password\n", "no rows after the header"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.csv);
    auto r = users(c.csv);
    ASSERT_FALSE(r.errors.empty());
    EXPECT_EQ(r.errors[0].line, 1u);
    EXPECT_NE(r.errors[0].reason.find(c.reason_part), std::string::npos) << r.errors[0].reason;
  }
  EXPECT_EQ(user_count(), 0u);
}

TEST_F(ImportTest, OnExistingFailSkipUpdate) {
  ASSERT_TRUE(users("email,password_hash,name\na@example.com,{SHA512-CRYPT}$6$one$"
                    "IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.,Old\n")
                  .written);
  const std::string again =
      "email,password_hash,quota\na@example.com,{SHA512-CRYPT}$6$two$"
      "IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.,5M\nb@example.com,{"
      "SHA512-CRYPT}$6$b$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.,\n";
  auto fail = users(again);
  ASSERT_EQ(fail.errors.size(), 1u);
  EXPECT_EQ(fail.errors[0].line, 2u);
  EXPECT_EQ(user_count(), 1u);

  ImportOptions skip;
  skip.on_existing = OnExisting::kSkip;
  auto skipped = users(again, skip);
  EXPECT_EQ(skipped.skipped, 1u);
  EXPECT_EQ(skipped.created, 1u);
  EXPECT_EQ(
      store_->get_user("a@example.com")->password,
      "{SHA512-CRYPT}$6$one$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.");

  ImportOptions update;
  update.on_existing = OnExisting::kUpdate;
  auto updated = users(again, update);
  EXPECT_EQ(updated.updated, 2u);
  auto a = store_->get_user("a@example.com");
  EXPECT_EQ(
      a->password,
      "{SHA512-CRYPT}$6$two$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.");
  EXPECT_EQ(a->quota, std::optional<uint64_t>(5ULL << 20));
  EXPECT_EQ(a->name, "Old");  // no name column: kept
}

TEST_F(ImportTest, DryRunChecksButWritesNothing) {
  ImportOptions dry;
  dry.dry_run = true;
  auto r = users("email,password\na@example.com,correct horse\n", dry);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.created, 1u);
  EXPECT_FALSE(r.written);
  EXPECT_EQ(user_count(), 0u);
  auto bad = users("email,password\na@example.com,short\n", dry);
  EXPECT_EQ(bad.errors.size(), 1u);
}

TEST_F(ImportTest, DomainFolderFailureWritesNothing) {
  // A domain folder that cannot be created (a file is in the way): no row is written.
  ASSERT_EQ(mkdir(settings_.mail_dir.c_str(), 0700), 0);
  FILE* f = fopen((settings_.mail_dir + "/example.com").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  auto r = import_users(*db_, settings_,
                        "email,password_hash\na@example.com,{SHA512-CRYPT}$6$s$"
                        "IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.\n",
                        {});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(user_count(), 0u);
}

TEST_F(ImportTest, ProgressAndHookRunOnTheCallingThread) {
  std::atomic<size_t> last{0};
  bool hooked = false;
  ImportOptions options;
  options.jobs = 2;
  options.progress = [&](std::string_view stage, size_t done, size_t total) {
    if (stage == "hashing") last = done;
    EXPECT_LE(done, total);
  };
  options.before_commit = [&] { hooked = true; };
  std::string csv = "email,password\n";
  for (int i = 0; i < 20; ++i) csv += "u" + std::to_string(i) + "@example.com,correct horse\n";
  auto r = users(csv, options);
  EXPECT_EQ(r.created, 20u);
  EXPECT_EQ(last.load(), 20u);
  EXPECT_TRUE(hooked);
}

TEST_F(ImportTest, AliasesCreateExtendAndConflict) {
  ASSERT_TRUE(store_->add_alias(Address{"info", "example.com"}, {"a@example.com"}).ok());
  ASSERT_TRUE(users("email,password_hash\nbox@example.com,{SHA512-CRYPT}$6$s$"
                    "IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.\n")
                  .written);
  auto r = import_aliases(*db_,
                          "source,destination\ninfo@example.com,\"b@example.com, c@example.com\"\n"
                          "@example.com,catch@example.com\n",
                          {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->errors.empty()) << errors_text(r->errors);
  EXPECT_EQ(r->created, 1u);
  EXPECT_EQ(r->updated, 1u);
  auto aliases = store_->list_aliases(std::nullopt);
  ASSERT_EQ(aliases->size(), 2u);
  EXPECT_EQ((*aliases)[1].destinations, (std::vector<std::string>{"a@example.com", "b@example.com", "c@example.com"}));

  auto bad = import_aliases(*db_,
                            "source,destination\n"
                            "info@example.com,a@example.com\n"   // 2: already a destination
                            "box@example.com,x@example.com\n"    // 3: a mailbox
                            "new@example.com,new@example.com\n"  // 4: points to itself
                            "n2@example.com,x@example.com\n"     // 5: fine
                            "N2@example.com,y@example.com\n"     // 6: duplicate
                            "z@nowhere.com,x@example.com\n",     // 7: no such domain
                            {});
  ASSERT_TRUE(bad.ok());
  std::vector<size_t> lines;
  for (const auto& e : bad->errors) lines.push_back(e.line);
  EXPECT_EQ(lines, (std::vector<size_t>{2, 3, 4, 6, 7})) << errors_text(bad->errors);
  EXPECT_EQ(store_->list_aliases(std::nullopt)->size(), 2u);
}

// Regression: import accepted users and aliases in an alias domain, which
// `user add` and `alias add` refuse (its addresses live at the target).
TEST_F(ImportTest, RowsInAnAliasDomainAreBadRows) {
  ASSERT_TRUE(store_->add_domain("example.net").ok());
  ASSERT_TRUE(store_->add_alias_domain("example.net", "example.com").ok());
  auto r = users(
      "email,password\n"
      "good@example.com,correct horse\n"
      "x@example.net,correct horse\n");
  ASSERT_EQ(r.errors.size(), 1u) << errors_text(r.errors);
  EXPECT_EQ(r.errors[0].line, 3u);
  EXPECT_EQ(r.errors[0].reason, "domain \"example.net\": an alias domain of \"example.com\"; add the address there");
  EXPECT_EQ(user_count(), 0u);
  auto a = import_aliases(*db_, "source,destination\nsales@example.net,x@other.org\n", {});
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->errors.size(), 1u) << errors_text(a->errors);
  EXPECT_NE(a->errors[0].reason.find("an alias domain of"), std::string::npos);
}

TEST_F(ImportTest, AliasCycleIsABadRowAndWritesNothing) {
  ASSERT_TRUE(store_->add_alias(Address{"a1", "example.com"}, {"a2@example.com"}).ok());
  for (bool dry_run : {true, false}) {
    ImportOptions options;
    options.dry_run = dry_run;
    auto r = import_aliases(*db_,
                            "source,destination\n"
                            "fine@example.com,x@other.org\n"
                            "a2@example.com,a3@example.com\n"
                            "a3@example.com,\"x@other.org,a1@example.com\"\n",
                            options);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->errors.size(), 1u) << errors_text(r->errors);
    EXPECT_EQ(r->errors[0].line, 3u);
    EXPECT_EQ(r->errors[0].reason,
              "alias: a2@example.com -> a3@example.com -> a1@example.com -> a2@example.com would loop");
    EXPECT_EQ(store_->list_aliases(std::nullopt)->size(), 1u);
  }
}

TEST(ValidateTest, BooleansAndDestinations) {
  for (const char* yes : {"true", "TRUE", "Yes", "1"}) EXPECT_TRUE(*parse_boolean(yes, false));
  for (const char* no : {"false", "No", "0"}) EXPECT_FALSE(*parse_boolean(no, true));
  EXPECT_TRUE(*parse_boolean("", true));
  EXPECT_FALSE(parse_boolean("maybe", true).ok());
  EXPECT_FALSE(parse_boolean("2", true).ok());
  auto d = parse_destinations("A@x.test, b@y.test", "s@x.test");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, (std::vector<std::string>{"a@x.test", "b@y.test"}));
  EXPECT_FALSE(parse_destinations("a@x.test,", "s@x.test").ok());
  EXPECT_FALSE(parse_destinations("a@x.test,A@x.test", "s@x.test").ok());
  EXPECT_FALSE(parse_destinations("s@x.test", "s@x.test").ok());
}

}  // namespace
}  // namespace vmail
