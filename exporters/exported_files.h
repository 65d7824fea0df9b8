// The one table of exported files: for each file the export writes, its
// name, the folder setting it lives in, its kind (Dovecot passwd-file, Postfix
// map, OpenDKIM table, access file), mode and owner, the function that renders
// it, when it is renamed relative to the others, and which daemon must be
// told when it changes. Everything that knows about the exported files reads
// this table: rendering, staging and the commit order (export.cc), `vmail
// export --check` (export_out_of_sync), the launcher's watch (which daemon is
// reloaded for which file) and its preparation (folders, files that must
// exist before the first export). A new exported file is one entry here.
//
// The functions below take the table as a parameter (default: the real one),
// so a test can add an entry and see it reach every one of them.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/files.h"
#include "core/settings.h"
#include "core/status.h"
#include "core/store.h"
#include "exporters/checked_rows.h"
#include "exporters/dkim_tables.h"
#include "exporters/postfix_maps.h"
#include "exporters/routes.h"

namespace vmail {

// The folder setting a file lives in.
enum class ExportFolder { kPostfix, kDovecot, kOpenDkim };

enum class ExportKind {
  kPasswdFile,     // Dovecot passwd-file (users, alias-quotas): holds hashes or homes
  kPostfixMap,     // source + postmap database of type VMAIL_MAP_TYPE, with a digest
  kOpenDkimTable,  // KeyTable, SigningTable: read by OpenDKIM, reloaded on SIGUSR1
  kAccessFile,     // Dovecot deny lists (one address a line), read by passwd-file
};

// When a changed file is renamed, relative to the others (see ExportPlan in
// export.cc): Postfix must never accept a recipient Dovecot cannot deliver.
enum class CommitGroup {
  kDelivery,    // what Dovecot (and OpenDKIM) read: before the Postfix maps
  kAcceptance,  // what makes Postfix accept a recipient: after them
};

// What a renderer reads: one snapshot, checked once, and the virtual map
// walked once (the three files that follow it share the walk).
struct RenderInput {
  const Snapshot& snapshot;
  const CheckedRows& rows;
  const VirtualMap& virtual_map;
  Routes& routes;
  const Settings& settings;
  const DkimWarn& warn;
  const DkimUsable& dkim_usable;  // empty: every key (a local store)
};

struct ExportedFileSpec {
  std::string name;  // the file's name in its folder
  ExportFolder folder = ExportFolder::kPostfix;
  ExportKind kind = ExportKind::kPostfixMap;
  mode_t mode = 0644;
  // Owner root and this group when set (as root): Dovecot reads the
  // passwd-files, which hold hashes, and no one else. Unset: the exporter's.
  std::optional<std::string> group;
  std::function<std::string(RenderInput&)> render;
  CommitGroup commit = CommitGroup::kDelivery;
  // The users file: when it loses an address, the acceptance group is
  // renamed first (Postfix stops accepting before Dovecot forgets).
  bool mailbox_list = false;
  // The daemon the launcher reloads when this file changes ("" = its
  // readers notice by themselves: Postfix and Dovecot stat their tables).
  std::string reload_daemon;
  // Made empty by the launcher's preparation when missing: its reader
  // refuses to start without it (OpenDKIM's tables).
  bool exists_before_first_export = false;
};

using ExportTable = std::vector<ExportedFileSpec>;

// The files vmail exports, in render order.
const ExportTable& exported_files();

// The folder of `spec` under `settings`, and its full path.
const std::string& export_folder(const ExportedFileSpec& spec, const Settings& settings);
std::string export_path(const ExportedFileSpec& spec, const Settings& settings);

// The entry named `name`; nullptr when the table has none.
const ExportedFileSpec* find_exported_file(const ExportTable& table, std::string_view name);

// The map type postmap builds `spec` with ("" when it is not a Postfix map).
std::string export_map_type(const ExportedFileSpec& spec, const Settings& settings);

// Mode and owner as the export creates the file (group looked up by name).
FileOptions export_file_options(const ExportedFileSpec& spec);

// Every folder the table's files live in, once each, in table order.
std::vector<std::string> export_folders(const Settings& settings, const ExportTable& table = exported_files());

// The paths of the files whose change the launcher reports to `daemon`.
std::vector<std::string> watched_exports(const Settings& settings, std::string_view daemon,
                                         const ExportTable& table = exported_files());

// The launcher's preparation of the exported files: makes every folder
// (0755, parents included) and, for each entry marked
// exists_before_first_export, an empty file with its mode when missing.
Status prepare_export_files(const Settings& settings, const ExportTable& table = exported_files());

// Watches files the exporter replaces by rename: inode, size and mtime of
// each (a stat each, cheap enough for every second). changed() names the
// files when any stamp differs from the last call's (or construction's).
class ExportWatch {
 public:
  explicit ExportWatch(std::vector<std::string> paths);
  std::optional<std::string> changed();

 private:
  std::string stamp() const;
  std::vector<std::string> paths_;
  std::string last_;
};

}  // namespace vmail
