// The export: regenerates every file Postfix and Dovecot read from one
// consistent snapshot of the database.
//
// Exports are serialised by the export lock (export_lock.h), held while the
// snapshot is read and the files are replaced, so the last export always
// reflects the last commit.
//
// Which files there are, and every fact about each, is the table in
// exported_files.h. Three steps: plan (which files changed, the rename order,
// and no folder in the way of any target; here), stage (each changed file
// written to its fixed temp name, fsync, postmap of the temp; export_stage.h),
// and commit (renames, only once every file is staged). A failure while
// planning or staging leaves every old file byte-identical. Renames are not
// atomic as a group: they are ordered so Postfix never accepts a recipient
// Dovecot does not know (see ExportPlan in export.cc), and a rename that fails
// leaves files that `export_out_of_sync` names and the next export replaces.
// A file whose content is unchanged (and whose postmap database exists) is
// left alone.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/database.h"
#include "core/settings.h"
#include "core/status.h"
#include "exporters/exported_files.h"

namespace vmail {

// One file of the table, rendered.
struct ExportedFile {
  const ExportedFileSpec* spec;
  std::string path;
  std::string map_type;  // postmap's type; "" when not a Postfix map
  std::string content;
};

// The files an export would write now, from `db` (reads one snapshot), one
// per entry of `table`, in its order.
Result<std::vector<ExportedFile>> render_exports(Database& db, const Settings& settings,
                                                 const ExportTable& table = exported_files());

struct ExportReport {
  std::vector<std::string> written;
  std::vector<std::string> unchanged;
};

// Writes what changed. Failure: kCantCreate (73) or kIoError (74), with the
// path; kBusy (75) naming the lock file; kConfig (78) for a bad timeout.
Result<ExportReport> export_all(Database& db, const Settings& settings, const ExportTable& table = exported_files());

// Writes one Postfix map that is not rendered from the database (the
// launcher's relay password map) the way the exported maps are built: the
// source goes to a temp file with `mode`, postmap (with the exporter's private
// config folder) builds the temp's database, which postmap gives the same
// mode, and the database is renamed into place before the source. True when
// it wrote; false when `path` already holds `content` with `mode` and a
// current database. kCantCreate naming the path on failure, never the content.
Result<bool> write_private_map(const Settings& settings, const std::string& path, const std::string& content,
                               mode_t mode);

// Removes such a map and its database (missing files are fine).
Status remove_private_map(const std::string& path, const std::string& map_type);

// The exported files that are missing or differ from the database.
Result<std::vector<std::string>> export_out_of_sync(Database& db, const Settings& settings,
                                                    const ExportTable& table = exported_files());

}  // namespace vmail
