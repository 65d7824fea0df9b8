// Files written atomically: a temp file in the same folder, fsync, rename.
// Readers see the old content or the new, never a partial file. On failure the
// temp file is removed and the old file is left byte-identical.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

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
std::string dir_of(const std::string& path);

// Writes `content` to `path` atomically.
Status write_file_atomic(const std::string& path, const std::string& content, const FileOptions& options);

// Creates `path` and its missing parents with `mode` (umask does not apply).
Status make_dirs(const std::string& path, mode_t mode = 0755);

// Fsyncs a folder so a rename inside it is durable.
Status sync_dir(const std::string& dir);
// Copies `from` to the new file `to` (mode `mode`, not synced). `to` must not
// exist; it is removed again on failure.
Status copy_file(const std::string& from, const std::string& to, mode_t mode);
// fsync of a file another program wrote (a postmap database before its rename).
Status sync_file(const std::string& path);

}  // namespace vmail
