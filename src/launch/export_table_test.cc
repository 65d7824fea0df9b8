// The table of exported files (exporters/exported_files.h) is the one place
// that names them: one more entry reaches the export, `vmail export --check`
// (export_out_of_sync), the launcher's preparation and its watch, with no
// other edit.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "core/database.h"
#include "core/files.h"
#include "core/store.h"
#include "exporters/export.h"
#include "exporters/exported_files.h"
#include "launch/launch_settings.h"
#include "launch/launcher.h"
#include "tests/test_util.h"

namespace vmail {
namespace {

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(ExportTableTest, OneMoreEntryReachesExportCheckPrepareAndTheLaunchersWatch) {
  testing::TempDir dir;
  auto l = load_launch_settings({}, map_env({{"VMAIL_ROOT", dir.path()}, {"MAIL_DOMAIN", "example.com"}}));
  ASSERT_TRUE(l.ok()) << l.status().message();
  const Settings& s = l->base;
  ASSERT_TRUE(make_dirs(s.state_dir).ok());
  auto db = Database::open_migrated(s.db);
  ASSERT_TRUE(db.ok()) << db.status().message();
  Store store(**db);
  ASSERT_TRUE(store.add_domain("example.com").ok());

  // A test-only entry: one line per domain, in OpenDKIM's folder, reloaded
  // into OpenDKIM, made empty before the first export.
  ExportTable table = exported_files();
  ExportedFileSpec extra;
  extra.name = "DomainTable";
  extra.folder = ExportFolder::kOpenDkim;
  extra.kind = ExportKind::kOpenDkimTable;
  extra.mode = 0640;
  extra.render = [](RenderInput& in) {
    std::string out;
    for (const auto& d : in.snapshot.domains) out += d + "\n";
    return out;
  };
  extra.commit = CommitGroup::kDelivery;
  extra.reload_daemon = "opendkim";
  extra.exists_before_first_export = true;
  table.push_back(extra);
  const std::string path = s.opendkim_dir + "/DomainTable";

  // The launcher's preparation makes it (empty, its mode) before any export.
  ASSERT_TRUE(prepare_export_files(s, table).ok());
  ASSERT_TRUE(std::filesystem::exists(path));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(*read_file(path), std::optional<std::string>(""));

  // The launcher watches it for OpenDKIM.
  DaemonSpec opendkim = opendkim_daemon(*l, table);
  ASSERT_TRUE(opendkim.changed);
  EXPECT_EQ(opendkim.changed(), std::nullopt);

  // `export --check` names it; the export writes it; then it is in sync.
  auto stale = export_out_of_sync(**db, s, table);
  ASSERT_TRUE(stale.ok()) << stale.status().message();
  EXPECT_TRUE(has(*stale, path));
  auto report = export_all(**db, s, table);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_TRUE(has(report->written, path));
  EXPECT_EQ(*read_file(path), std::optional<std::string>("example.com\n"));
  auto reason = opendkim.changed();
  ASSERT_TRUE(reason.has_value());
  EXPECT_NE(reason->find("DomainTable"), std::string::npos) << *reason;
  stale = export_out_of_sync(**db, s, table);
  ASSERT_TRUE(stale.ok());
  EXPECT_TRUE(stale->empty());

  // A change in the store makes it stale, and the next export replaces it.
  ASSERT_TRUE(store.add_domain("example.org").ok());
  stale = export_out_of_sync(**db, s, table);
  ASSERT_TRUE(stale.ok());
  EXPECT_TRUE(has(*stale, path));  // with vdomains and hosted_senders
  report = export_all(**db, s, table);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(has(report->written, path));
  EXPECT_EQ(*read_file(path), std::optional<std::string>("example.com\nexample.org\n"));
  EXPECT_TRUE(opendkim.changed().has_value());

  // Without the entry (the real table) nothing knows the file.
  EXPECT_FALSE(has(*export_out_of_sync(**db, s), path));
  EXPECT_FALSE(has(watched_exports(s, "opendkim"), path));
  EXPECT_EQ(find_exported_file(exported_files(), "DomainTable"), nullptr);
}

// The real table: every file once, each kind where its readers look.
TEST(ExportTableTest, RealTableNamesEachFileOnce) {
  const ExportTable& table = exported_files();
  std::vector<std::string> names;
  for (const auto& spec : table) {
    EXPECT_FALSE(has(names, spec.name)) << spec.name;
    names.push_back(spec.name);
    EXPECT_EQ(spec.kind == ExportKind::kPostfixMap, spec.commit == CommitGroup::kAcceptance) << spec.name;
    EXPECT_EQ(spec.kind == ExportKind::kPostfixMap, spec.folder == ExportFolder::kPostfix) << spec.name;
  }
  EXPECT_EQ(names.size(), 14u);
  const ExportedFileSpec* users = find_exported_file(table, "users");
  ASSERT_NE(users, nullptr);
  EXPECT_TRUE(users->mailbox_list);
  EXPECT_EQ(users->mode, 0640u);
  Settings s;
  s.opendkim_dir = "/o";
  EXPECT_EQ(watched_exports(s, "opendkim"), (std::vector<std::string>{"/o/KeyTable", "/o/SigningTable"}));
}

}  // namespace
}  // namespace vmail
