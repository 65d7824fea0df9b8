// Files written atomically: a temp file in the same folder, fsync, rename.
// Readers see the old content or the new, never a partial file. On failure the
// temp file is removed and the old file is left byte-identical.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace vmail {

struct FileOptions {
  mode_t mode = 0644;
  std::optional<uid_t> owner;  // chown when set (and running as root)
  std::optional<gid_t> group;
  // false: replaced atomically but not fsynced, for a file rewritten every
  // second whose loss in a crash costs nothing (a heartbeat, e.g. the
  // follower's status); after a power loss it may be old or empty.
  bool durable = true;
  // false: Dir::write_file refuses (kCantCreate) when the target exists,
  // also when it appears while the temp file is written (RENAME_NOREPLACE).
  bool replace = true;
};

// True when something exists at `path` (stat succeeds).
bool file_exists(const std::string& path);

// Reads a whole file. nullopt when it does not exist; a Status on other errors.
Result<std::optional<std::string>> read_file(const std::string& path);

// Reads a whole file of at most `max_bytes` (input an admin or a user hands
// over: a vacation message, a password file, an import, a certificate).
// nullopt when it does not exist. A file over the limit is kBadInput (65),
// "PATH: larger than the limit of N KiB", and is never read whole: a regular
// file is refused by its size (fstat) before any read, anything else (a pipe,
// /dev/zero, a FIFO) after max_bytes + 1 bytes. A caller whose input is
// configuration turns the code into kConfig (78). Other errors as read_file.
Result<std::optional<std::string>> read_file_limited(const std::string& path, size_t max_bytes);

// The same for an open descriptor (e.g. standard input), named `name` in
// messages; `fd` is left open.
Result<std::string> read_fd_limited(int fd, const std::string& name, size_t max_bytes);

// A secret kept in a file of one line (the relay's and the database's
// password files): at most 4 KiB, never read whole beyond that; the line
// break at its end dropped; then not empty, and no other line break or
// control character. kConfig as "SETTING PATH: reason", never naming the
// content.
Result<std::string> read_secret_file(const std::string& setting, const std::string& path);

// `bytes` for a message: "4 KiB", "64 KiB", "256 MiB", or "N bytes".
std::string format_limit(size_t bytes);

// True when `path` exists and holds exactly `content`. Compares in chunks
// (sizes first) without reading the whole file into memory.
Result<bool> file_has_content(const std::string& path, const std::string& content);

// A temp file beside its target. Write content, then commit() to fsync and
// rename it into place; the destructor removes an uncommitted temp file.
class TempFile {
 public:
  static Result<TempFile> create(const std::string& target, const FileOptions& options);
  TempFile(TempFile&& other) noexcept;
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile();

  const std::string& path() const { return temp_; }
  int fd() const { return fd_; }
  Status write(const std::string& content);
  // fsync (when durable) + close, without renaming (so a tool such as postmap can read it).
  Status finish();
  // Renames the temp file onto `target` (finishing it first) and, unless
  // `sync_folder` is false (the caller syncs it once after several renames),
  // fsyncs the folder.
  Status commit(bool sync_folder = true);
  // Renames an extra file `from` (e.g. the temp's postmap database) to `to`.
  static Status rename_into_place(const std::string& from, const std::string& to);

 private:
  TempFile(std::string target, std::string temp, int fd, bool durable)
      : target_(std::move(target)), temp_(std::move(temp)), fd_(fd), durable_(durable) {}
  std::string target_;
  std::string temp_;
  int fd_ = -1;
  bool durable_ = true;
  bool committed_ = false;
};

// Test seam for "disk full" and other write errors: while set, every
// TempFile::write and TempFile::finish first calls `fault(temp_path)` and fails
// with the errno it returns (0 = no fault). Pass {} to clear. Process-wide and
// not synchronised: for tests only.
using WriteFault = std::function<int(const std::string& temp_path)>;
void set_write_fault_for_testing(WriteFault fault);

// Test seam for a failed rename (a folder in the way, a read-only mount):
// while set, every TempFile::commit and TempFile::rename_into_place first calls
// `fault(target_path)` and fails with the errno it returns (0 = no fault), so
// a test can also record the order of the renames. Pass {} to clear.
// Process-wide and not synchronised: for tests only.
using RenameFault = std::function<int(const std::string& target_path)>;
void set_rename_fault_for_testing(RenameFault fault);

// True when `name` (a file name, no folder) is exactly a temp name that
// TempFile::create makes for a target named `target_name`: the target name,
// ".tmp", and six letters or digits (mkostemp's pattern), nothing else. An
// admin's `virtual.tmpl` beside the maps is not one.
bool is_temp_name(std::string_view name, std::string_view target_name);

// The folder part of a path: "." for a bare name, "/" for a file at the root.
// With base_name, the one way a path is split into its folder and its name.
std::string dir_of(const std::string& path);

// The last component of a path: what follows its last '/' (all of a bare name).
std::string base_name(const std::string& path);

// Writes `content` to `path` atomically.
Status write_file_atomic(const std::string& path, const std::string& content, const FileOptions& options);

// Creates `path` and its missing parents with `mode` (umask does not apply).
// Only folders it creates get `mode` (through their descriptor); a folder
// that already exists is never chmod'ed. Symlinks among the existing
// components are followed: `path` is an admin's setting, not a name someone
// else chose (use Dir::make_sub below folders others can write).
Status make_dirs(const std::string& path, mode_t mode = 0755);

// Fsyncs a folder so a rename inside it is durable.
Status sync_dir(const std::string& dir);
// Copies `from` to the new file `to` (mode `mode`, not synced). `to` must not
// exist; it is removed again on failure.
Status copy_file(const std::string& from, const std::string& to, mode_t mode);
// fsync of a file another program wrote (a postmap database before its rename).
Status sync_file(const std::string& path);

// ---------------------------------------------------------------------------
// The one file layer for what root touches below a folder that another user
// owns or can write (the DKIM key folders that opendkim owns, maildirs and
// the vacation scripts in them that the vmail uid owns, backups in a folder
// the admin shares). Everything goes through a Dir, a folder held open by
// descriptor:
//   - every operation names one entry of the folder, a single path component
//     (is_path_component), so a name read back from a store cannot climb out;
//   - an entry is opened with O_NOFOLLOW: a symlink put in its place is
//     refused, never followed;
//   - owner and mode change only through the descriptor of something this
//     layer has just created (mkdirat, openat O_CREAT|O_EXCL), never by name
//     and never for a folder that already existed;
//   - files are replaced atomically: a fresh temp file (O_EXCL, so a file
//     planted under the temp's name is never written into), fsync, renameat
//     onto the name (which replaces a planted symlink itself, not its target).
// A Dir is movable, not copyable; its methods are safe to call from several
// threads on different Dirs.

// Sets owner, group and mode of the folder `path` through its descriptor;
// its last component is never followed (a symlink there is refused).
Status set_dir_owner_mode(const std::string& path, uid_t owner, gid_t group, mode_t mode);

// True when `name` can be one entry of a folder: not empty, not "." or "..",
// no '/' and no NUL, at most 255 bytes.
bool is_path_component(std::string_view name);

class Dir {
 public:
  // Opens the folder `path` (symlinks in it are followed: an admin's
  // setting). kCantCreate when it cannot be opened (also when missing).
  static Result<Dir> open(const std::string& path);
  // As open, creating `path` and its missing parents first (make_dirs).
  static Result<Dir> open_or_make(const std::string& path, mode_t mode);

  Dir(Dir&& other) noexcept;
  Dir& operator=(Dir&& other) noexcept;
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;
  ~Dir();

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // The existing folder `name`, never through a symlink. nullopt when
  // missing; kCantCreate when it is a symlink or not a folder.
  Result<std::optional<Dir>> sub(std::string_view name) const;
  // The folder `name`, made when missing with `mode` and (as root) `owner`
  // and `group`, set through its descriptor. An existing folder is opened as
  // it is (never chmod'ed or chowned); a symlink in its place is refused.
  Result<Dir> make_sub(std::string_view name, mode_t mode, std::optional<uid_t> owner = {},
                       std::optional<gid_t> group = {}) const;
  // Replaces the file `name` with `content` atomically (mode, owner and
  // durability from `options`). Honours the write and rename fault seams.
  Status write_file(std::string_view name, std::string_view content, const FileOptions& options) const;
  // Reads the regular file `name` whole, never through a symlink. nullopt
  // when missing; kBadInput when it is larger than `max_bytes`.
  Result<std::optional<std::string>> read_file(std::string_view name, size_t max_bytes) const;
  // True when the entry `name` exists (a symlink counts, and is not followed).
  bool has(std::string_view name) const;
  // Removes the entry `name` (a file, or a symlink itself). Missing is fine.
  Status remove(std::string_view name) const;
  // Removes the entry `name` and, when it is a folder, everything below it,
  // walking by descriptor: a symlink anywhere is removed itself, never
  // followed. Missing is fine.
  Status remove_tree(std::string_view name) const;
  // Removes the folder `name` when it is empty. Missing or not empty is fine.
  Status remove_empty_dir(std::string_view name) const;
  // The names in the folder, without "." and "..".
  Result<std::vector<std::string>> entries() const;
  // Sets this folder's own owner, group and mode through its descriptor:
  // for a folder whose entry only root can replace (its parent is root's).
  Status set_owner_mode(uid_t owner, gid_t group, mode_t mode) const;
  // Sets owner, group and mode of the regular file `name` through its
  // descriptor (never through a symlink); unset owner/group stay as they are.
  Status set_file_owner_mode(std::string_view name, const FileOptions& options) const;
  // Renames the entry `from` of this folder to `to` in `target`, refusing
  // to replace an existing `to` unless `replace`.
  Status rename_to(std::string_view from, const Dir& target, std::string_view to, bool replace) const;
  // Copies the regular file `from` to the new file `to` (mode `mode`, not
  // synced), neither through a symlink. `to` must not exist; it is removed
  // again on failure.
  Status copy_file(std::string_view from, std::string_view to, mode_t mode) const;
  // fsync of the regular file `name` (one another program wrote, e.g. a
  // postmap database before its rename), never through a symlink.
  Status sync_file(std::string_view name) const;
  // fsync of this folder, so the renames in it are durable.
  Status sync() const;

 private:
  Dir(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

// A file written under a FIXED temp name in a Dir and later renamed onto its
// target in the same folder: for a writer that holds a lock under which it
// alone writes that name (the export lock; Postfix's edit_file works this
// way), so no random name is needed and nothing is left to sweep. Whatever a
// crashed writer left under the name is removed first (a symlink itself,
// never followed), then the name is created afresh (O_EXCL | O_NOFOLLOW) with
// mode and owner set through its descriptor: a leftover is replaced, never
// written into, and never renamed into place. The Dir must outlive it; the
// destructor removes an uncommitted temp. Honours the write and rename fault
// seams like TempFile.
class DirTemp {
 public:
  static Result<DirTemp> create(const Dir& dir, std::string_view target, std::string_view temp,
                                const FileOptions& options);
  DirTemp(DirTemp&& other) noexcept;
  DirTemp& operator=(DirTemp&&) = delete;
  ~DirTemp();

  const std::string& name() const { return temp_; }
  const std::string& path() const { return temp_path_; }  // for a tool that reads it by name (postmap)
  const std::string& target() const { return target_; }
  int fd() const { return fd_; }
  Status write(std::string_view content);
  // fsync (when durable) + close, without renaming.
  Status finish();
  // Finishes and renames the temp onto the target; the caller syncs the folder.
  Status commit();

 private:
  DirTemp(const Dir* dir, std::string target, std::string temp, int fd, bool durable);
  const Dir* dir_;
  std::string target_;
  std::string temp_;
  std::string temp_path_;
  int fd_ = -1;
  bool durable_ = true;
  bool committed_ = false;
};

}  // namespace vmail
