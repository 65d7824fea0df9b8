// The exporters: each file rendered from a hand-built snapshot (exact lines,
// order, hostile stored values), and export_all against a real database and
// the real postmap (unchanged files left alone, failures leave the old files
// and no temp files, Dovecot's mtime rule, modes).
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>

#include "core/files.h"
#include "core/store.h"
#include "exporters/dovecot_users.h"
#include "exporters/export.h"
#include "exporters/postfix_maps.h"
#include "tests/test_util.h"

namespace vmail {
namespace {

const char* const kHash =
    "{SHA512-CRYPT}$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.";

User make_user(const std::string& local, const std::string& domain, std::optional<uint64_t> quota = std::nullopt,
               bool enabled = true) {
  User u;
  u.local = local;
  u.domain = domain;
  u.address = local + "@" + domain;
  u.password = kHash;
  u.quota = quota;
  u.enabled = enabled;
  return u;
}

Settings test_settings(const std::string& root = "") {
  Settings s;
  s.root = root;
  s.state_dir = root + "/data/state";
  s.db = s.state_dir + "/vmail.db";
  s.mail_dir = root + "/var/mail/vhosts";
  s.postfix_dir = root + "/etc/postfix";
  s.dovecot_dir = root + "/etc/dovecot";
  s.opendkim_dir = root + "/etc/opendkim";
  return s;
}

// example.com: alice (quota 1G), bob (disabled), carol (disabled, quota 0);
// other.org: dave. Aliases: multi-destination, catch-all, external only.
Snapshot sample() {
  Snapshot s;
  s.domains = {"example.com", "other.org"};
  s.users = {make_user("alice", "example.com", uint64_t{1} << 30), make_user("bob", "example.com", {}, false),
             make_user("carol", "example.com", 0, false), make_user("dave", "other.org")};
  s.aliases = {
      Alias{"@example.com", "example.com", {"alice@example.com"}},
      Alias{"ext@example.com", "example.com", {"someone@elsewhere.net"}},
      Alias{"sales@example.com", "example.com", {"bob@example.com", "alice@example.com", "x@elsewhere.net"}},
  };
  return s;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

TEST(DovecotUsersTest, RendersEachKindOfUser) {
  std::string expected =
      "alice@example.com:{SHA512-CRYPT}$6$salt$"
      "IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.:5000:5000::/var/mail/"
      "vhosts/example.com/alice::"
      "userdb_quota_rule=*:bytes=1073741824\n"
      "bob@example.com:{SHA512-CRYPT}$6$salt$"
      "IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.:5000:5000::/var/mail/"
      "vhosts/example.com/bob::"
      "nologin allow_nets=0.0.0.0/32\n"
      "carol@example.com:{SHA512-CRYPT}$6$salt$"
      "IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.:5000:5000::/var/mail/"
      "vhosts/example.com/carol::"
      "nologin allow_nets=0.0.0.0/32 userdb_quota_rule=*:bytes=0\n"
      "dave@other.org:{SHA512-CRYPT}$6$salt$"
      "IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.:5000:5000::/var/mail/"
      "vhosts/other.org/dave::\n";
  EXPECT_EQ(render_dovecot_users(sample(), test_settings()), expected);
  EXPECT_EQ(dovecot_user_line(sample().users[3], test_settings()),
            "dave@other.org:{SHA512-CRYPT}$6$salt$"
            "IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.:5000:5000::/var/"
            "mail/vhosts/other.org/dave::");
}

TEST(DovecotUsersTest, UsesConfiguredIds) {
  Settings s = test_settings();
  s.uid = 1234;
  s.gid = 4321;
  EXPECT_EQ(dovecot_user_line(sample().users[3], s),
            "dave@other.org:{SHA512-CRYPT}$6$salt$"
            "IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.:1234:4321::/var/"
            "mail/vhosts/other.org/dave::");
}

TEST(PostfixMapsTest, Vmailbox) {
  EXPECT_EQ(render_vmailbox(sample()),
            "alice@example.com example.com/alice/Maildir/\n"
            "bob@example.com example.com/bob/Maildir/\n"
            "carol@example.com example.com/carol/Maildir/\n"
            "dave@other.org other.org/dave/Maildir/\n");
}

TEST(PostfixMapsTest, VirtualMapsEveryMailboxToItself) {
  // '@' sorts before letters: the catch-all comes first; disabled users keep
  // receiving, so they are in the map too.
  EXPECT_EQ(render_virtual(sample()),
            "@example.com alice@example.com\n"
            "alice@example.com alice@example.com\n"
            "bob@example.com bob@example.com\n"
            "carol@example.com carol@example.com\n"
            "dave@other.org dave@other.org\n"
            "ext@example.com someone@elsewhere.net\n"
            "sales@example.com bob@example.com,alice@example.com,x@elsewhere.net\n");
}

TEST(PostfixMapsTest, Vdomains) { EXPECT_EQ(render_vdomains(sample()), "example.com OK\nother.org OK\n"); }

TEST(PostfixMapsTest, SenderLoginsOwnership) {
  // A mailbox owns itself; an alias is owned by its destinations that are
  // local mailboxes (sorted); a catch-all and an alias with only external
  // destinations own nothing.
  EXPECT_EQ(render_sender_logins(sample()),
            "alice@example.com alice@example.com\n"
            "bob@example.com bob@example.com\n"
            "carol@example.com carol@example.com\n"
            "dave@other.org dave@other.org\n"
            "sales@example.com alice@example.com,bob@example.com\n");
}

// Alias domains (SPEC "Mail policy"): explicit x@ALIAS lines for every
// mailbox and alias of the target, `@ALIAS @TARGET` only with a catch-all,
// vdomains lists ALIAS, and users may send as x@ALIAS.
TEST(PostfixMapsTest, AliasDomainsAndForwards) {
  Snapshot s = sample();
  s.domains.push_back("alias.net");
  s.domains.push_back("other-alias.net");
  s.alias_domains = {AliasDomain{"other-alias.net", "other.org"}, AliasDomain{"alias.net", "example.com"}};
  s.forwards = {Forward{"bob@example.com", {"x@elsewhere.net", "dave@other.org"}, false},
                Forward{"alice@example.com", {"x@elsewhere.net"}, true}};
  EXPECT_EQ(render_virtual(s),
            "@alias.net @example.com\n"
            "@example.com alice@example.com\n"
            "alice@alias.net alice@example.com\n"
            "alice@example.com alice@example.com,x@elsewhere.net\n"
            "bob@alias.net bob@example.com\n"
            "bob@example.com x@elsewhere.net,dave@other.org\n"
            "carol@alias.net carol@example.com\n"
            "carol@example.com carol@example.com\n"
            "dave@other-alias.net dave@other.org\n"
            "dave@other.org dave@other.org\n"
            "ext@alias.net ext@example.com\n"
            "ext@example.com someone@elsewhere.net\n"
            "sales@alias.net sales@example.com\n"
            "sales@example.com bob@example.com,alice@example.com,x@elsewhere.net\n");
  EXPECT_EQ(render_sender_logins(s),
            "alice@alias.net alice@example.com\n"
            "alice@example.com alice@example.com\n"
            "bob@alias.net bob@example.com\n"
            "bob@example.com bob@example.com\n"
            "carol@alias.net carol@example.com\n"
            "carol@example.com carol@example.com\n"
            "dave@other-alias.net dave@other.org\n"
            "dave@other.org dave@other.org\n"
            "sales@alias.net alice@example.com,bob@example.com\n"
            "sales@example.com alice@example.com,bob@example.com\n");
  EXPECT_EQ(render_vdomains(s), "alias.net OK\nexample.com OK\nother-alias.net OK\nother.org OK\n");
  // Every hosted domain and alias domain, whole (not only sender_logins' addresses).
  std::vector<std::string> hosted = lines_of(render_hosted_senders(check_rows(s)));
  ASSERT_EQ(hosted.size(), 4u);
  const char* const domains[] = {"alias.net", "example.com", "other-alias.net", "other.org"};
  for (size_t i = 0; i < hosted.size(); ++i) {
    EXPECT_EQ(hosted[i], std::string(domains[i]) +
                             " REJECT 5.7.1 sender address in a domain hosted here: "
                             "authenticate on the submission port");
  }
  EXPECT_EQ(render_vmailbox(s), render_vmailbox(sample())) << "forwarding mailboxes still exist";
  // Without a catch-all at the target, no `@ALIAS` line: unknown users are refused.
  s.aliases.erase(s.aliases.begin());
  EXPECT_EQ(render_virtual(s).find("@alias.net @"), std::string::npos);
}

TEST(PostfixMapsTest, MapDatabasePaths) {
  EXPECT_EQ(map_database_path("/p/virtual", "hash"), "/p/virtual.db");
  EXPECT_EQ(map_database_path("/p/virtual", "lmdb"), "/p/virtual.lmdb");
  EXPECT_EQ(map_database_path("/p/virtual", "cdb"), "/p/virtual.cdb");
}

TEST(ExportRenderTest, OrderDoesNotDependOnSnapshotOrder) {
  Snapshot sorted = sample();
  Snapshot shuffled = sample();
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(shuffled.users.begin(), shuffled.users.end(), rng);
    std::shuffle(shuffled.aliases.begin(), shuffled.aliases.end(), rng);
    std::shuffle(shuffled.domains.begin(), shuffled.domains.end(), rng);
    EXPECT_EQ(render_vmailbox(shuffled), render_vmailbox(sorted));
    EXPECT_EQ(render_virtual(shuffled), render_virtual(sorted));
    EXPECT_EQ(render_vdomains(shuffled), render_vdomains(sorted));
    EXPECT_EQ(render_sender_logins(shuffled), render_sender_logins(sorted));
  }
}

TEST(ExportRenderTest, MailboxWinsOverAliasOfTheSameAddress) {
  Snapshot s = sample();
  s.aliases.push_back(Alias{"alice@example.com", "example.com", {"dave@other.org"}});
  std::vector<std::string> skipped;
  std::string virt = render_virtual(s, [&](const std::string& why) { skipped.push_back(why); });
  EXPECT_NE(virt.find("alice@example.com alice@example.com\n"), std::string::npos);
  EXPECT_EQ(virt.find("alice@example.com dave@other.org"), std::string::npos);
  EXPECT_EQ(skipped.size(), 1u);
  EXPECT_EQ(render_sender_logins(s), render_sender_logins(sample()));
}

// Hostile stored values ------------------------------------------------------

// Values that would add a line or a field to some file if copied through.
const std::vector<std::string> kHostile = {"evil:x",  "evil\nx", "evil x",      "evil\rx", std::string("evil\0x", 6),
                                           "evil\tx", "#evil",   " evil",       "evil,x",  "evil\\",
                                           "evil@@x", "evil=x",  "\xc3\xa9vil", "EVIL",    "evil\n@x.y",
                                           "evil..x"};  // "" is left out: it would leave a valid value

// Checks every line of every rendered file: users lines have 7 ':' fields
// plus extra tokens from a closed set, map lines exactly `key value` with
// nothing that Postfix's parser treats specially.
void expect_well_formed(const Snapshot& snap, const Settings& settings, size_t users, size_t virtual_entries,
                        const std::string& context) {
  SCOPED_TRACE(context);
  std::string dovecot = render_dovecot_users(snap, settings);
  std::string vmailbox = render_vmailbox(snap);
  std::string virt = render_virtual(snap);
  std::string vdomains = render_vdomains(snap);
  std::string logins = render_sender_logins(snap);
  for (const std::string* text : {&dovecot, &vmailbox, &virt, &vdomains, &logins}) {
    EXPECT_EQ(text->find('\0'), std::string::npos);
    EXPECT_EQ(text->find('\r'), std::string::npos);
    EXPECT_TRUE(text->empty() || text->back() == '\n');
  }
  auto user_lines = lines_of(dovecot);
  EXPECT_EQ(user_lines.size(), users);
  static const std::regex extra_token(R"(nologin|allow_nets=0\.0\.0\.0/32|userdb_quota_rule=\*:bytes=[0-9]+)");
  for (const std::string& line : user_lines) {
    std::vector<std::string> fields;
    size_t start = 0;
    for (int i = 0; i < 7; ++i) {
      size_t colon = line.find(':', start);
      ASSERT_NE(colon, std::string::npos) << line;
      fields.push_back(line.substr(start, colon - start));
      start = colon + 1;
    }
    std::string extra = line.substr(start);  // the rest is the extra field
    EXPECT_EQ(fields[0].find_first_of(" \t"), std::string::npos) << line;
    EXPECT_EQ(fields[1].find_first_of(" \t"), std::string::npos) << line;
    EXPECT_EQ(fields[2], "5000");
    EXPECT_EQ(fields[3], "5000");
    EXPECT_EQ(fields[4], "");
    EXPECT_EQ(fields[6], "");
    std::istringstream tokens(extra);
    std::string token;
    while (tokens >> token) EXPECT_TRUE(std::regex_match(token, extra_token)) << line;
  }
  static const std::regex map_line(R"([a-z0-9@][a-z0-9@._-]* [A-Za-z0-9@._/,-]+)");
  auto check_map = [](const std::string& text, size_t expected, const char* name) {
    auto lines = lines_of(text);
    EXPECT_EQ(lines.size(), expected) << name << ":\n" << text;
    for (const std::string& line : lines) EXPECT_TRUE(std::regex_match(line, map_line)) << name << ": " << line;
  };
  check_map(vmailbox, users, "vmailbox");
  check_map(virt, virtual_entries, "virtual");
  check_map(vdomains, 1, "vdomains");
  check_map(logins, users + 1, "sender_logins");
}

TEST(ExportRenderTest, HostileStoredValuesNeverAddALineOrAField) {
  Settings settings = test_settings();
  auto base = [] {
    Snapshot s;
    s.domains = {"example.com"};
    s.users = {make_user("good", "example.com")};
    s.aliases = {Alias{"list@example.com", "example.com", {"good@example.com"}}};
    return s;
  };
  // A clean snapshot: 1 user, virtual = self + alias, logins = self + alias.
  expect_well_formed(base(), settings, 1, 2, "clean");
  for (const std::string& bad : kHostile) {
    std::string shown = quote(bad);
    {  // in the address (local part, domain, or the whole address)
      Snapshot s = base();
      User u = make_user("x", "example.com");
      u.address = "x" + bad + "@example.com";
      u.local = "x" + bad;
      s.users.push_back(u);
      expect_well_formed(s, settings, 1, 2, "local part " + shown);
      s = base();
      u = make_user("x", "example.com");
      u.address = "x@example.com" + bad;
      u.domain = "example.com" + bad;
      s.users.push_back(u);
      expect_well_formed(s, settings, 1, 2, "domain " + shown);
      s = base();
      u = make_user("x", "example.com");
      u.address = bad + "x@example.com";
      s.users.push_back(u);
      expect_well_formed(s, settings, 1, 2, "address " + shown);
    }
    {  // in the hash and the display name (never exported)
      Snapshot s = base();
      User u = make_user("x", "example.com");
      u.password = std::string(kHash) + bad;
      u.name = bad;
      s.users.push_back(u);
      // Only the hash can make the users line unsafe; the maps keep the user.
      bool hash_ok = check_hash(u.password).ok();
      SCOPED_TRACE("hash " + shown);
      EXPECT_EQ(lines_of(render_dovecot_users(s, settings)).size(), hash_ok ? 2u : 1u);
      Snapshot named = base();
      named.users[0].name = bad;
      EXPECT_EQ(render_dovecot_users(named, settings), render_dovecot_users(base(), settings));
    }
    {  // in an alias source and a destination, and a domain name
      Snapshot s = base();
      s.aliases.push_back(Alias{"a" + bad + "@example.com", "example.com", {"good@example.com"}});
      s.aliases.push_back(Alias{"b@example.com", "example.com", {"good@example.com" + bad}});
      s.aliases.push_back(Alias{"@example.com" + bad, "example.com", {"good@example.com"}});
      s.domains.push_back("example.org" + bad);
      expect_well_formed(s, settings, 1, 2, "alias " + shown);
    }
  }
}

// export_all against a real database and postmap ----------------------------

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_ = test_settings(dir_.path());
    auto db = Database::open_migrated(settings_.db);
    ASSERT_TRUE(db.ok()) << db.status().message();
    db_ = std::move(*db);
    store_ = std::make_unique<Store>(*db_);
    ASSERT_TRUE(store_->add_domain("example.com").ok());
    ASSERT_TRUE(store_->add_user(make_user("alice", "example.com")).ok());
    ASSERT_TRUE(store_->add_alias(Address{"sales", "example.com"}, {"alice@example.com"}).ok());
  }
  void TearDown() override { set_write_fault_for_testing({}); }

  std::string postfix(const std::string& name) const { return settings_.postfix_dir + "/" + name; }
  std::string users_path() const { return settings_.dovecot_dir + "/users"; }

  // Every file in the export folders, name -> content.
  std::map<std::string, std::string> snapshot_files() const {
    std::map<std::string, std::string> out;
    for (const auto& dir : {settings_.postfix_dir, settings_.dovecot_dir}) {
      if (!std::filesystem::exists(dir)) continue;
      for (const auto& e : std::filesystem::directory_iterator(dir)) {
        std::ifstream in(e.path(), std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        out[e.path().string()] = ss.str();
      }
    }
    return out;
  }

  std::string postmap_query(const std::string& key, const std::string& map) {
    std::string cmd = "postmap -c " + settings_.state_dir + "/postmap -q '" + key + "' " + settings_.map_type + ":" +
                      postfix(map) + " 2>&1";
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
      char buf[512];
      while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
      pclose(p);
    }
    return out;
  }

  testing::TempDir dir_;
  Settings settings_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Store> store_;
};

struct stat stat_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st;
}

// `vmail user access`: each switch lands in its own file, only there; turning
// it back on empties the file again; deleting the user drops its switches.
TEST_F(ExportTest, AccessSwitchesReachTheirOwnFiles) {
  ASSERT_TRUE(store_->add_user(make_user("bob", "example.com")).ok());
  ASSERT_TRUE(store_->set_access("alice@example.com", {{"imap", false}, {"receive", false}}).ok());
  ASSERT_TRUE(store_->set_access("bob@example.com", {{"send", false}, {"imap", false}}).ok());
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  auto files = snapshot_files();
  const std::string dc = settings_.dovecot_dir + "/";
  EXPECT_EQ(files[dc + "deny-imap"], "alice@example.com\nbob@example.com\n");
  EXPECT_EQ(files[dc + "deny-pop3"], "");
  EXPECT_EQ(files[dc + "deny-sieve"], "");
  EXPECT_EQ(files[dc + "deny-smtp"], "bob@example.com\n");
  EXPECT_EQ(postmap_query("alice@example.com", "recipient_access"), "550 5.7.1 this mailbox does not accept mail\n");
  EXPECT_EQ(postmap_query("bob@example.com", "recipient_access"), "");
  // Its alias too (security issue 22): the same reply at RCPT.
  EXPECT_EQ(postmap_query("sales@example.com", "recipient_access"), "550 5.7.1 this mailbox does not accept mail\n");
  auto denied = store_->denied_services("alice@example.com");
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(*denied, (std::vector<std::string>{"imap", "receive"}));

  ASSERT_TRUE(store_->set_access("alice@example.com", {{"imap", true}, {"imap", true}}).ok());
  User removed;
  ASSERT_TRUE(store_->delete_user("bob@example.com", &removed).ok());
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  files = snapshot_files();
  EXPECT_EQ(files[dc + "deny-imap"], "");
  EXPECT_EQ(files[dc + "deny-smtp"], "");
  EXPECT_EQ(store_->denied_services("bob@example.com").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->set_access("bob@example.com", {{"imap", false}}).code(), Code::kNotFound);
}

TEST_F(ExportTest, WritesEveryFileThenLeavesUnchangedOnesAlone) {
  auto first = export_all(*db_, settings_);
  ASSERT_TRUE(first.ok()) << first.status().message();
  // 4 maps and the users file, plus recipient_access, hosted_senders,
  // alias-quotas, deny-{imap,pop3,sieve,smtp} and OpenDKIM's KeyTable and
  // SigningTable (empty: no key).
  EXPECT_EQ(first->written.size(), 14u);
  EXPECT_EQ(postmap_query("alice@example.com", "vmailbox"), "example.com/alice/Maildir/\n");
  EXPECT_EQ(postmap_query("sales@example.com", "virtual"), "alice@example.com\n");
  EXPECT_EQ(postmap_query("example.com", "vdomains"), "OK\n");
  EXPECT_EQ(postmap_query("sales@example.com", "sender_logins"), "alice@example.com\n");

  std::map<std::string, struct stat> before;
  for (const auto& [path, _] : snapshot_files()) before[path] = stat_of(path);
  auto again = export_all(*db_, settings_);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->written.empty());
  EXPECT_EQ(again->unchanged.size(), 14u);
  for (const auto& [path, st] : before) {
    struct stat now = stat_of(path);
    EXPECT_EQ(now.st_ino, st.st_ino) << path;
    EXPECT_EQ(now.st_mtim.tv_sec, st.st_mtim.tv_sec) << path;
    EXPECT_EQ(now.st_mtim.tv_nsec, st.st_mtim.tv_nsec) << path;
  }
  auto stale = export_out_of_sync(*db_, settings_);
  ASSERT_TRUE(stale.ok());
  EXPECT_TRUE(stale->empty());

  // A quota change touches only the users file, and alias-quotas when an
  // alias reaches only that mailbox (sales -> alice).
  ASSERT_TRUE(store_->set_quota("alice@example.com", 1024).ok());
  auto third = export_all(*db_, settings_);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->written, (std::vector<std::string>{users_path(), settings_.dovecot_dir + "/alias-quotas"}));
  EXPECT_EQ(
      snapshot_files()[settings_.dovecot_dir + "/alias-quotas"],
      "sales@example.com::5000:5000::" + settings_.mail_dir + "/example.com/alice::userdb_quota_rule=*:bytes=1024\n");
}

TEST_F(ExportTest, ModesAndOwners) {
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  EXPECT_EQ(stat_of(users_path()).st_mode & 07777, 0640u);
  if (struct group* g = getgrnam("dovecot"); g != nullptr && geteuid() == 0) {
    EXPECT_EQ(stat_of(users_path()).st_gid, g->gr_gid);
    EXPECT_EQ(stat_of(users_path()).st_uid, 0u);
  }
  for (const char* name : {"vmailbox", "virtual", "vdomains", "sender_logins"}) {
    EXPECT_EQ(stat_of(postfix(name)).st_mode & 07777, 0644u) << name;
    EXPECT_EQ(stat_of(postfix(name) + ".db").st_mode & 07777, 0644u) << name;
  }
  // OpenDKIM's tables hold no secret (the key files they name do).
  for (const char* name : {"/KeyTable", "/SigningTable"}) {
    EXPECT_EQ(stat_of(settings_.opendkim_dir + name).st_mode & 07777, 0644u) << name;
  }
  // A users file made world-readable is out of sync and put right.
  ASSERT_EQ(::chmod(users_path().c_str(), 0644), 0);
  auto stale = export_out_of_sync(*db_, settings_);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(*stale, std::vector<std::string>{users_path()});
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  EXPECT_EQ(stat_of(users_path()).st_mode & 07777, 0640u);
}

// Port 25's sender rule: the map answers for the domain key Postfix looks up.
TEST_F(ExportTest, HostedSendersRejectEveryHostedDomain) {
  ASSERT_TRUE(store_->add_domain("second.org").ok());
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  EXPECT_EQ(postmap_query("example.com", "hosted_senders").rfind("REJECT 5.7.1 ", 0), 0u);
  EXPECT_EQ(postmap_query("second.org", "hosted_senders").rfind("REJECT 5.7.1 ", 0), 0u);
  EXPECT_EQ(postmap_query("example.net", "hosted_senders"), "");
  ASSERT_TRUE(store_->add_domain("third.org").ok());
  auto stale = export_out_of_sync(*db_, settings_);
  ASSERT_TRUE(stale.ok());
  EXPECT_NE(std::find(stale->begin(), stale->end(), postfix("hosted_senders")), stale->end());
}

// The launcher's relay password map: 0600 source and database, rewritten
// only when its content changes, removed with its database.
TEST_F(ExportTest, PrivateMapIsBuiltLikeTheExportedMaps) {
  const std::string path = postfix("relay_passwords");
  std::filesystem::create_directories(settings_.postfix_dir);
  auto wrote = write_private_map(settings_, path, "[relay.example.net]:587 user:pass word\n", 0600);
  ASSERT_TRUE(wrote.ok()) << wrote.status().message();
  EXPECT_TRUE(*wrote);
  EXPECT_EQ(stat_of(path).st_mode & 07777, 0600u);
  EXPECT_EQ(stat_of(path + ".db").st_mode & 07777, 0600u);
  EXPECT_EQ(postmap_query("[relay.example.net]:587", "relay_passwords"), "user:pass word\n");
  struct stat before = stat_of(path + ".db");
  auto again = write_private_map(settings_, path, "[relay.example.net]:587 user:pass word\n", 0600);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(stat_of(path + ".db").st_ino, before.st_ino);
  ASSERT_TRUE(write_private_map(settings_, path, "[relay.example.net]:587 user:new\n", 0600).ok());
  EXPECT_EQ(postmap_query("[relay.example.net]:587", "relay_passwords"), "user:new\n");
  for (const auto& e : std::filesystem::directory_iterator(settings_.postfix_dir)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
  ASSERT_TRUE(remove_private_map(path, settings_.map_type).ok());
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".db"));
  EXPECT_TRUE(remove_private_map(path, settings_.map_type).ok());
}

TEST_F(ExportTest, PostmapConfigIsBackDated) {
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  EXPECT_EQ(stat_of(settings_.state_dir + "/postmap/main.cf").st_mtim.tv_sec, 0);
}

TEST_F(ExportTest, UsersMtimeAdvancesOnEveryChangeEvenWithinOneSecond) {
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  time_t last = stat_of(users_path()).st_mtim.tv_sec;
  for (int i = 0; i < 5; ++i) {
    // Same-size hashes: only the mtime can tell Dovecot the file changed.
    std::string hash = std::string("{SHA512-CRYPT}$6$salt") + char('a' + i) + "$" + (kHash + 22);
    ASSERT_TRUE(store_->set_password("alice@example.com", hash).ok());
    ASSERT_TRUE(export_all(*db_, settings_).ok());
    time_t now = stat_of(users_path()).st_mtim.tv_sec;
    EXPECT_GT(now, last) << "export " << i;
    last = now;
  }
}

void expect_no_temp_files(const std::vector<std::string>& dirs) {
  for (const auto& dir : dirs) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      std::string name = e.path().filename().string();
      EXPECT_EQ(name.find(".tmp"), std::string::npos) << e.path();
      EXPECT_NE(name.rfind("__db.", 0), 0u) << e.path();
    }
  }
}

TEST_F(ExportTest, DiskFullAtAnyFileLeavesEveryOldFileAndNoTempFile) {
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  auto before = snapshot_files();
  ASSERT_TRUE(store_->add_user(make_user("bob", "example.com")).ok());
  // Fail the 1st, 2nd, ... temp file written; later ones succeed.
  // Four files change, each written then synced: eight points to fail at.
  // Syncs run in worker threads, so the count is atomic.
  for (int fail_at = 1; fail_at <= 8; ++fail_at) {
    SCOPED_TRACE("failing write " + std::to_string(fail_at));
    std::atomic<int> calls = 0;
    set_write_fault_for_testing([&](const std::string&) { return ++calls == fail_at ? ENOSPC : 0; });
    auto r = export_all(*db_, settings_);
    set_write_fault_for_testing({});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kIoError);
    EXPECT_NE(r.status().message().find("No space left on device"), std::string::npos) << r.status().message();
    EXPECT_EQ(snapshot_files(), before);
    expect_no_temp_files({settings_.postfix_dir, settings_.dovecot_dir});
  }
  auto stale = export_out_of_sync(*db_, settings_);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(*stale, (std::vector<std::string>{postfix("vmailbox"), postfix("virtual"), postfix("sender_logins"),
                                              users_path()}));
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  EXPECT_TRUE(export_out_of_sync(*db_, settings_)->empty());
  EXPECT_EQ(postmap_query("bob@example.com", "vmailbox"), "example.com/bob/Maildir/\n");
}

TEST_F(ExportTest, FailingPostmapLeavesEveryOldFileAndNoTempFile) {
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  auto before = snapshot_files();
  ASSERT_TRUE(store_->add_user(make_user("bob", "example.com")).ok());
  Settings broken = settings_;
  broken.map_type = "nosuchtype";  // postmap exits non-zero: unsupported dictionary type
  auto r = export_all(*db_, broken);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCantCreate);
  EXPECT_NE(r.status().message().find("postmap failed"), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  EXPECT_EQ(snapshot_files(), before);
  expect_no_temp_files({settings_.postfix_dir, settings_.dovecot_dir});
}

// A killed export leaves its temp files under their fixed names; the next
// export that stages those files removes them (a symlink itself, never what
// it points to) and writes them afresh: a half-written leftover is never
// renamed into place. No folder is swept.
TEST_F(ExportTest, LeftoverFixedTempsAreReplacedNeverExported) {
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  for (const char* name : {"vmailbox.vmail.tmp", "vmailbox.vmail.tmp.db", "__db.vmailbox.vmail.tmp.db",
                           "vmailbox.digest.vmail.tmp", "sender_logins.vmail.tmp.cdb.tmp"}) {
    std::ofstream(postfix(name)) << "half-written";
  }
  std::ofstream(users_path() + ".vmail.tmp") << "alice@example.com:{PLAIN}half";
  // A symlink in a temp's place is removed, never written through.
  const std::string outside = dir_.path() + "/outside";
  std::ofstream(outside) << "not the export's";
  std::filesystem::create_symlink(outside, postfix("virtual.vmail.tmp"));
  ASSERT_TRUE(store_->add_user(make_user("bob", "example.com")).ok());
  auto r = export_all(*db_, settings_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(postmap_query("bob@example.com", "vmailbox"), "example.com/bob/Maildir/\n");
  EXPECT_EQ(postmap_query("bob@example.com", "virtual"), "bob@example.com\n");
  EXPECT_EQ(postmap_query("alice@example.com", "vmailbox"), "example.com/alice/Maildir/\n");
  EXPECT_NE(snapshot_files()[users_path()].find("bob@example.com:"), std::string::npos);
  EXPECT_EQ(*read_file(outside), std::optional<std::string>("not the export's"));
  EXPECT_TRUE(export_out_of_sync(*db_, settings_)->empty());
  expect_no_temp_files({settings_.postfix_dir, settings_.dovecot_dir});
}

// Nothing but the export's own fixed names is ever removed: an admin's files
// beside the maps stay, also ones that look like an older version's temps.
TEST_F(ExportTest, FilesBesideTheExportAreLeftAlone) {
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  const std::vector<std::string> admin = {"virtual.tmpl",         "virtual.tmp",           "virtual.tmpAbC12",
                                          "virtual.tmpAbC1234",   "virtual.tmp-ab.cd",     "vmailbox.tmpAbC123.bak",
                                          "__db.virtual.tmpl.db", "virtual.vmail.tmp.bak", "vmailbox.tmpAbC123"};
  for (const auto& name : admin) std::ofstream(postfix(name)) << "admin's";
  std::ofstream(users_path() + ".tmpl") << "admin's";
  ASSERT_TRUE(store_->add_user(make_user("bob", "example.com")).ok());
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  for (const auto& name : admin) EXPECT_EQ(*read_file(postfix(name)), std::optional<std::string>("admin's")) << name;
  EXPECT_TRUE(std::filesystem::exists(users_path() + ".tmpl"));
}

TEST(FilesTest, IsTempName) {
  struct Case {
    const char* name;
    bool temp;
  } cases[] = {
      {"virtual.tmpAbC123", true},   {"virtual.tmp000000", true},   {"virtual.tmpl", false},
      {"virtual.tmp", false},        {"virtual.tmpAbC1234", false}, {"virtual.tmpAbC12", false},
      {"virtual.tmpAbC-12", false},  {"virtual.tmpAbC12\n", false}, {"virtuaL.tmpAbC123", false},
      {"xvirtual.tmpAbC123", false}, {"virtual.TMPAbC123", false},
  };
  for (const auto& c : cases) EXPECT_EQ(is_temp_name(c.name, "virtual"), c.temp) << c.name;
  // The names TempFile really makes match.
  testing::TempDir dir;
  auto t = TempFile::create(dir.path() + "/virtual", FileOptions{});
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(is_temp_name(std::filesystem::path(t->path()).filename().string(), "virtual")) << t->path();
}

// The targets renamed by one export, in order.
std::vector<std::string> rename_order(Database& db, const Settings& settings) {
  std::vector<std::string> order;
  set_rename_fault_for_testing([&](const std::string& target) {
    order.push_back(target);
    return 0;
  });
  auto r = export_all(db, settings);
  set_rename_fault_for_testing({});
  EXPECT_TRUE(r.ok()) << r.status().message();
  return order;
}

size_t position(const std::vector<std::string>& order, const std::string& path) {
  return static_cast<size_t>(std::find(order.begin(), order.end(), path) - order.begin());
}

// Regression: the users file was renamed last, so Postfix accepted a new
// user's mail before Dovecot knew the user (LMTP 550, a bounce); and a removed
// user must leave Postfix's maps before Dovecot's users file.
TEST_F(ExportTest, UsersFileFirstForAdditionsLastForRemovals) {
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  ASSERT_TRUE(store_->add_user(make_user("bob", "example.com")).ok());
  auto added = rename_order(*db_, settings_);
  ASSERT_LT(position(added, users_path()), added.size());
  for (const char* map : {"vmailbox", "virtual", "sender_logins"}) {
    EXPECT_LT(position(added, users_path()), position(added, postfix(map))) << map;
    EXPECT_LT(position(added, users_path()), position(added, postfix(map) + ".db")) << map;
  }
  User gone;
  ASSERT_TRUE(store_->delete_user("bob@example.com", &gone).ok());
  auto removed = rename_order(*db_, settings_);
  ASSERT_LT(position(removed, users_path()), removed.size());
  for (const char* map : {"vmailbox", "virtual", "sender_logins"}) {
    EXPECT_GT(position(removed, users_path()), position(removed, postfix(map))) << map;
  }
}

// Regression: a folder in the way of vdomains.db made the export exit 73
// with three maps new and two files old.
TEST_F(ExportTest, FolderInTheWayIsFoundBeforeAnyRename) {
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  ASSERT_TRUE(std::filesystem::remove(postfix("vdomains.db")));
  ASSERT_TRUE(std::filesystem::create_directory(postfix("vdomains.db")));
  auto before = snapshot_files();
  ASSERT_TRUE(store_->add_domain("other.org").ok());
  ASSERT_TRUE(store_->add_user(make_user("bob", "example.com")).ok());
  auto r = export_all(*db_, settings_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCantCreate);
  EXPECT_NE(r.status().message().find(postfix("vdomains.db")), std::string::npos) << r.status().message();
  EXPECT_EQ(snapshot_files(), before);
  expect_no_temp_files({settings_.postfix_dir, settings_.dovecot_dir});
  auto stale = export_out_of_sync(*db_, settings_);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(std::count(stale->begin(), stale->end(), postfix("vdomains")), 1);
  ASSERT_TRUE(std::filesystem::remove(postfix("vdomains.db")));
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  EXPECT_TRUE(export_out_of_sync(*db_, settings_)->empty());
  EXPECT_EQ(postmap_query("other.org", "vdomains"), "OK\n");
}

// A rename that fails anyway (the folder went read-only) leaves a state that
// export_out_of_sync names and the next export repairs.
TEST_F(ExportTest, FailedRenameAtAnyPointIsNamedAndRepaired) {
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  for (int fail_at = 1; fail_at <= 10; ++fail_at) {
    SCOPED_TRACE("failing rename " + std::to_string(fail_at));
    ASSERT_TRUE(store_->add_user(make_user("u" + std::to_string(fail_at), "example.com")).ok());
    int calls = 0;
    set_rename_fault_for_testing([&](const std::string&) { return ++calls == fail_at ? EROFS : 0; });
    auto r = export_all(*db_, settings_);
    set_rename_fault_for_testing({});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCantCreate);
    auto stale = export_out_of_sync(*db_, settings_);
    ASSERT_TRUE(stale.ok());
    EXPECT_FALSE(stale->empty());
    auto repaired = export_all(*db_, settings_);
    ASSERT_TRUE(repaired.ok()) << repaired.status().message();
    EXPECT_TRUE(export_out_of_sync(*db_, settings_)->empty());
    std::string user = "u" + std::to_string(fail_at) + "@example.com";
    EXPECT_EQ(postmap_query(user, "vmailbox"), "example.com/u" + std::to_string(fail_at) + "/Maildir/\n");
    EXPECT_EQ(postmap_query(user, "virtual"), user + "\n");
    expect_no_temp_files({settings_.postfix_dir, settings_.dovecot_dir});
  }
}

// Regression: the lock wait had no bound, so a hung postmap hung every later
// command.
TEST_F(ExportTest, LockHeldElsewhereFailsAfterTheTimeout) {
  std::string lock_path = settings_.db + ".export-lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);  // another open file description: conflicts like another process
  ::setenv("VMAIL_EXPORT_LOCK_TIMEOUT", "0.3", 1);
  auto start = std::chrono::steady_clock::now();
  auto r = export_all(*db_, settings_);
  auto waited = std::chrono::steady_clock::now() - start;
  ::close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kBusy);
  EXPECT_NE(r.status().message().find(lock_path), std::string::npos) << r.status().message();
  EXPECT_GE(waited, std::chrono::milliseconds(300));
  EXPECT_LT(waited, std::chrono::seconds(5));
  EXPECT_TRUE(export_all(*db_, settings_).ok());
  ::setenv("VMAIL_EXPORT_LOCK_TIMEOUT", "soon", 1);
  EXPECT_EQ(export_all(*db_, settings_).status().code(), Code::kConfig);
  ::unsetenv("VMAIL_EXPORT_LOCK_TIMEOUT");
}

TEST_F(ExportTest, MailDirThatWouldCorruptTheUsersFileIsRefused) {
  for (const std::string& bad : {std::string("/var/mail:x"), std::string("/var/mail\nx")}) {
    Settings s = settings_;
    s.mail_dir = bad;
    auto r = export_all(*db_, s);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kConfig);
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  }
  EXPECT_FALSE(std::filesystem::exists(users_path()));
}

TEST_F(ExportTest, EveryMapType) {
  ASSERT_TRUE(export_all(*db_, settings_).ok());
  for (const char* type : {"hash", "lmdb", "cdb"}) {
    SCOPED_TRACE(type);
    settings_.map_type = type;
    auto r = export_all(*db_, settings_);
    ASSERT_TRUE(r.ok()) << r.status().message();
    // Same sources, new database type: the maps are rebuilt, users is not.
    EXPECT_EQ(std::count(r->written.begin(), r->written.end(), users_path()), 0);
    EXPECT_TRUE(std::filesystem::exists(map_database_path(postfix("virtual"), type)));
    EXPECT_EQ(postmap_query("alice@example.com", "virtual"), "alice@example.com\n");
    EXPECT_EQ(postmap_query("nobody@example.com", "virtual"), "");
  }
}

TEST(FilesTest, FileHasContent) {
  testing::TempDir dir;
  std::string path = dir.path() + "/f";
  EXPECT_FALSE(*file_has_content(path, ""));
  ASSERT_TRUE(write_file_atomic(path, std::string(200000, 'x'), FileOptions{}).ok());
  EXPECT_TRUE(*file_has_content(path, std::string(200000, 'x')));
  EXPECT_FALSE(*file_has_content(path, std::string(199999, 'x') + "y"));
  EXPECT_FALSE(*file_has_content(path, std::string(200001, 'x')));
}

TEST(FilesTest, FailedWriteRemovesTheTempFile) {
  testing::TempDir dir;
  std::string path = dir.path() + "/f";
  ASSERT_TRUE(write_file_atomic(path, "old", FileOptions{}).ok());
  set_write_fault_for_testing([](const std::string&) { return ENOSPC; });
  Status s = write_file_atomic(path, "new", FileOptions{});
  set_write_fault_for_testing({});
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_EQ(*read_file(path), std::optional<std::string>("old"));
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);
}

// A heartbeat file (durable = false) is still replaced whole, with its mode,
// and leaves no temp file; file_exists sees it.
TEST(FilesTest, NonDurableWriteStillReplacesWhole) {
  testing::TempDir dir;
  std::string path = dir.path() + "/status.json";
  EXPECT_FALSE(file_exists(path));
  FileOptions options;
  options.mode = 0640;
  options.durable = false;
  ASSERT_TRUE(write_file_atomic(path, "one", options).ok());
  ASSERT_TRUE(write_file_atomic(path, "two", options).ok());
  EXPECT_TRUE(file_exists(path));
  EXPECT_EQ(*read_file(path), std::optional<std::string>("two"));
  namespace fs = std::filesystem;
  EXPECT_EQ(fs::status(path).permissions(), fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);
}

}  // namespace
}  // namespace vmail
