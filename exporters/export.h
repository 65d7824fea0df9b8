// The export: regenerates every file Postfix and Dovecot read from one
// consistent snapshot of the database.
//
// Exports are serialised by an flock on `<db>.export-lock` held while the
// snapshot is read and the files are replaced, so the last export always
// reflects the last commit. All changed files are staged first (temp file,
// fsync, postmap of the temp) and renamed into place only when every one is
// ready: a failure leaves every old file byte-identical. A file whose content
// is unchanged (and whose postmap database exists) is left alone.
#pragma once

#include <string>
#include <vector>

#include "core/database.h"
#include "core/settings.h"
#include "core/status.h"

namespace vmail {

struct ExportedFile {
  std::string path;
  bool postmap = false;  // a Postfix map with a database beside it
  std::string content;
};

// The files an export would write now, from `db` (reads one snapshot).
Result<std::vector<ExportedFile>> render_exports(Database& db, const Settings& settings);

struct ExportReport {
  std::vector<std::string> written;
  std::vector<std::string> unchanged;
};

// Writes what changed. Failure: kCantCreate (73) or kIoError (74), with the path.
Result<ExportReport> export_all(Database& db, const Settings& settings);

// The exported files that are missing or differ from the database.
Result<std::vector<std::string>> export_out_of_sync(Database& db, const Settings& settings);

}  // namespace vmail
