// Staging and commit of an export (export.h): each changed file is written
// to its FIXED temp name beside its target (export_temp_name), synced and,
// for a Postfix map, postmapped, all through the folder's descriptor
// (core/files.h Dir, DirTemp); only once every file is staged are they
// renamed into place. The temp names are fixed because only the holder of
// the export lock writes them (Postfix's edit_file does the same): a temp a
// killed export left is removed and written afresh by the next export that
// stages its file, never renamed into place half-written, so no folder is
// ever swept.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/files.h"
#include "core/process.h"
#include "core/status.h"
#include "exporters/export.h"
#include "exporters/map_delta.h"

namespace vmail {

// The fixed temp name of the file `name` (also of a map's digest:
// export_temp_name("virtual.digest")).
std::string export_temp_name(std::string_view name);

// True when `f` is already on disk as an export would write it: content,
// mode and (as root) owner, and for a map a database no older than its source.
Result<bool> export_in_sync(const ExportedFile& f);

// True when the database of the map `source` exists and is no older.
bool database_current(const std::string& source, const std::string& map_type);

// A folder in place of a file an export renames onto makes rename(2) fail
// after other files were replaced; checked before anything is written.
Status check_target(const std::string& path);

// postmap's private config folder beside the database (a back-dated main.cf:
// postmap pauses ~2 s after a main.cf changed in the last 2 s).
Result<std::string> postmap_config_dir(const std::string& db_path);

struct Staged;

// The staged files of one export and the threads finishing them.
class Stage {
 public:
  explicit Stage(std::string db_path);
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;
  ~Stage();

  // Writes one changed file to its temp (and a map's digest) and starts the
  // thread that syncs it and, for a map, runs postmap. The caller holds the
  // export lock.
  Status add(const ExportedFile& f);
  // Joins the threads; the first failure of any staged file.
  Status wait();
  // Renames every staged file into place: the digests first (durable before
  // anything else moves), then each table's commit groups in the order
  // asked (delivery first, or acceptance first), each database before its
  // source; one folder sync per folder. Appends each target to *written.
  Status commit(bool delivery_first, std::vector<std::string>* written);

 private:
  const Dir* folder(const std::string& path, Status* error);
  std::string db_path_;
  std::optional<std::string> postmap_dir_;
  // Declared in this order so they are destroyed in the reverse one: the
  // threads are joined first (no postmap still writes), then the staged
  // files remove their leftovers through the folders, then the folders close.
  std::vector<std::unique_ptr<Dir>> dirs_;
  std::vector<std::unique_ptr<Staged>> staged_;
  std::vector<std::jthread> workers_;
};

}  // namespace vmail
