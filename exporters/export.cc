#include "exporters/export.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include "exporters/dovecot_users.h"
#include "core/accounts.h"
#include "core/files.h"
#include "exporters/map_delta.h"
#include "exporters/postfix_maps.h"
#include "core/process.h"
#include "core/store.h"

namespace vmail {
namespace {

// The names export_all writes; only these get stale temp files swept.
const char* const kExportNames[] = {"users", "vmailbox", "virtual", "vdomains", "sender_logins"};

class ExportLock {
 public:
  static Result<ExportLock> acquire(const std::string& db_path) {
    std::string path = db_path + ".export-lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return Status(Code::kCantCreate, path + ": cannot open export lock: " + std::strerror(errno));
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        int err = errno;
        ::close(fd);
        return Status(Code::kCantCreate, path + ": cannot lock: " + std::strerror(err));
      }
    }
    return ExportLock(fd);
  }
  ExportLock(ExportLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  ~ExportLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }

 private:
  explicit ExportLock(int fd) : fd_(fd) {}
  int fd_;
};

class Stopwatch {
 public:
  double lap_ms() {
    auto now = std::chrono::steady_clock::now();
    double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    return ms;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

std::string dir_of(const std::string& path) { return std::filesystem::path(path).parent_path().string(); }

// The mail folder is part of every users line: a ':' or a control character
// in it (from the environment or a recorded setting) would corrupt them all.
Status check_mail_dir(const std::string& mail_dir) {
  for (unsigned char c : mail_dir) {
    if (c == ':' || c < 0x20 || c == 0x7f) {
      return Status(Code::kConfig,
                    "VMAIL_MAIL_DIR " + quote(mail_dir) +
                        ": contains ':' or a control character, which would corrupt the Dovecot users file");
    }
  }
  return Status::Ok();
}

// postmap reads main.cf from its -c folder and pauses ~2 s when that file
// changed in the last 2 s. A private folder with a back-dated main.cf keeps
// every export free of that pause and of the instance's own main.cf edits.
Result<std::string> postmap_config_dir(const std::string& db_path) {
  std::string dir = dir_of(db_path) + "/postmap";
  std::string main_cf = dir + "/main.cf";
  struct stat st;
  if (::stat(main_cf.c_str(), &st) == 0 && st.st_mtim.tv_sec < 86400) return dir;
  if (Status s = make_dirs(dir); !s.ok()) return s;
  auto temp = TempFile::create(main_cf, FileOptions{0644, {}, {}});
  if (!temp.ok()) return temp.status();
  if (Status s = temp->write("# Private settings for vmail's postmap runs; the server's main.cf is elsewhere.\n"
                             "compatibility_level = 3.6\n");
      !s.ok()) {
    return s;
  }
  // Back-dated before the rename, so no postmap ever sees a recent main.cf.
  struct timespec old[2] = {{0, 0}, {0, 0}};
  if (::futimens(temp->fd(), old) != 0) {
    return Status(Code::kCantCreate, main_cf + ": cannot set time: " + std::strerror(errno));
  }
  if (Status s = temp->commit(); !s.ok()) return s;
  return dir;
}

bool database_current(const std::string& source, const std::string& map_type) {
  struct stat src;
  struct stat db;
  if (::stat(source.c_str(), &src) != 0 || ::stat(map_database_path(source, map_type).c_str(), &db) != 0) return false;
  return db.st_mtim.tv_sec >= src.st_mtim.tv_sec;
}

FileOptions options_for(const ExportedFile& f) {
  FileOptions options{0644, {}, {}};
  if (!f.postmap) {
    options.mode = 0640;  // the passwd-file holds hashes: never world-readable
    options.owner = 0;
    options.group = group_by_name("dovecot");
  }
  return options;
}

// Mode and (when we can set them) owner as an export would create them.
bool metadata_matches(const std::string& path, const FileOptions& options) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  if ((st.st_mode & 07777) != options.mode) return false;
  if (geteuid() != 0) return true;
  if (options.owner && st.st_uid != *options.owner) return false;
  if (options.group && st.st_gid != *options.group) return false;
  return true;
}

// True when `f` is already on disk as an export would write it.
Result<bool> in_sync(const ExportedFile& f, const std::string& map_type) {
  auto same = file_has_content(f.path, f.content);
  if (!same.ok()) return same.status();
  return *same && metadata_matches(f.path, options_for(f)) && (!f.postmap || database_current(f.path, map_type));
}

// Dovecot re-reads a passwd-file only when its mtime (whole seconds) or size
// changes, so every version gets an mtime second later than the one it
// replaces. The file's own mtime is compared, not the clock: file times come
// from the kernel's coarse clock, which can still be in the old second when
// clock_gettime() is already in the next.
Status bump_mtime_past(int fd, const std::string& temp, const std::string& target) {
  struct stat old;
  if (::stat(target.c_str(), &old) != 0) return Status::Ok();
  struct stat now;
  if (::fstat(fd, &now) != 0) return Status(Code::kCantCreate, temp + ": cannot stat: " + std::strerror(errno));
  if (now.st_mtim.tv_sec > old.st_mtim.tv_sec) return Status::Ok();
  struct timespec times[2] = {{old.st_mtim.tv_sec + 1, 0}, {old.st_mtim.tv_sec + 1, 0}};
  if (::futimens(fd, times) != 0) return Status(Code::kCantCreate, temp + ": cannot set time: " + std::strerror(errno));
  return Status::Ok();
}

// Removes temp files left by an export that was killed: only names derived
// from the exported files, and only while holding the export lock, so no
// running export's files are touched.
void sweep_stale_temps(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    for (const char* base : kExportNames) {
      std::string prefix = std::string(base) + ".tmp";
      std::string bdb_prefix = "__db." + prefix;  // Berkeley DB's scratch name inside postmap
      std::string digest_prefix = map_digest_path(base) + ".tmp";
      if (name.rfind(prefix, 0) == 0 || name.rfind(bdb_prefix, 0) == 0 || name.rfind(digest_prefix, 0) == 0) {
        if (::unlinkat(::dirfd(d), name.c_str(), 0) == 0) spdlog::debug("removed stale temp file {}/{}", dir, name);
        break;
      }
    }
  }
  ::closedir(d);
}

// One changed file, written to a temp beside its target and (for a map)
// postmapped, waiting to be renamed into place. Removes its leftovers unless
// committed.
struct Staged {
  std::string target;
  TempFile temp;
  std::string map_type;            // "" when not a map
  std::string temp_db;             // postmap output beside the temp, "" once renamed
  std::optional<MapDelta> delta;   // when the old database can be updated in place of a rebuild
  std::optional<TempFile> digest;  // the new `<map>.digest`
  Status synced;
  std::optional<Result<ProcessResult>> postmap;

  Staged(std::string t, TempFile f, std::string m) : target(std::move(t)), temp(std::move(f)), map_type(std::move(m)) {
    if (!map_type.empty()) temp_db = map_database_path(temp.path(), map_type);
  }
  Staged(const Staged&) = delete;
  Staged& operator=(const Staged&) = delete;
  ~Staged() {
    if (temp_db.empty()) return;
    ::unlink(temp_db.c_str());
    // Scratch files postmap makes on the way (left behind if it failed).
    ::unlink((temp_db + ".tmp").c_str());  // cdb
    std::filesystem::path p(temp_db);
    ::unlink((p.parent_path() / ("__db." + p.filename().string())).c_str());  // Berkeley DB (hash)
  }
};

// The lines to apply to a copy of the old database, when that is safe: the
// map type can be updated (cdb cannot), and the old database was built from
// exactly the old text (its recorded digest matches).
Result<std::optional<MapDelta>> plan_incremental(const ExportedFile& f, const std::string& map_type) {
  if (map_type == "cdb") return std::optional<MapDelta>();
  struct stat st;
  if (::stat(map_database_path(f.path, map_type).c_str(), &st) != 0) return std::optional<MapDelta>();
  auto old = read_file(f.path);
  if (!old.ok()) return old.status();
  auto digest = read_file(map_digest_path(f.path));
  if (!digest.ok()) return digest.status();
  if (!*old || !*digest || **digest != map_digest(map_type, **old)) return std::optional<MapDelta>();
  return plan_map_delta(**old, f.content);
}

// Updates a copy of the old database with the staged delta. nullopt when that
// did not work out: the caller rebuilds the map in full.
std::optional<Result<ProcessResult>> update_incrementally(Staged& st, const std::string& config_dir, mode_t mode) {
  if (!copy_file(map_database_path(st.target, st.map_type), st.temp_db, mode).ok()) return std::nullopt;
  std::string map = st.map_type + ":" + st.temp.path();
  Result<ProcessResult> last = ProcessResult{0, ""};
  // -r: replace a key's value without a warning; -d -: delete the keys read.
  for (auto [flags, input] : {std::pair<std::vector<std::string>, const std::string*>{{"-i", "-r"}, &st.delta->puts},
                              {{"-d", "-"}, &st.delta->deletes}}) {
    if (input->empty()) continue;
    std::vector<std::string> argv = {"postmap"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), {"-c", config_dir, map});
    last = run_process_with_input(argv, *input);
    if (!last.ok() || last->exit_code != 0) {
      ::unlink(st.temp_db.c_str());
      return std::nullopt;
    }
  }
  return last;
}

}  // namespace

Result<std::vector<ExportedFile>> render_exports(Database& db, const Settings& settings) {
  if (Status s = check_mail_dir(settings.mail_dir); !s.ok()) return s;
  Store store(db);
  auto snap = store.snapshot();
  if (!snap.ok()) return snap.status();
  auto warn = [](const std::string& why) { spdlog::warn("{}", why); };
  CheckedRows rows = check_rows(*snap, warn);
  std::vector<ExportedFile> files;
  files.push_back({settings.postfix_dir + "/vmailbox", true, render_vmailbox(rows)});
  files.push_back({settings.postfix_dir + "/virtual", true, render_virtual(rows, warn)});
  files.push_back({settings.postfix_dir + "/sender_logins", true, render_sender_logins(rows)});
  files.push_back({settings.postfix_dir + "/vdomains", true, render_vdomains(rows)});
  files.push_back({settings.dovecot_dir + "/users", false, render_dovecot_users(rows, settings)});
  return files;
}

Result<ExportReport> export_all(Database& db, const Settings& settings) {
  Stopwatch clock;
  auto lock = ExportLock::acquire(db.path());
  if (!lock.ok()) return lock.status();
  double lock_ms = clock.lap_ms();
  auto files = render_exports(db, settings);
  if (!files.ok()) return files.status();
  double render_ms = clock.lap_ms();

  ExportReport report;
  // Declared before the threads: the threads are joined (destroyed) first, so
  // no postmap is still writing when a Staged removes its files.
  std::vector<std::unique_ptr<Staged>> staged;
  std::vector<std::jthread> workers;
  std::optional<std::string> postmap_dir;
  std::vector<std::string> swept;
  for (const ExportedFile& f : *files) {
    auto same = in_sync(f, settings.map_type);
    if (!same.ok()) return same.status();
    if (*same) {
      report.unchanged.push_back(f.path);
      continue;
    }
    std::string dir = dir_of(f.path);
    if (Status s = make_dirs(dir); !s.ok()) return s;
    if (std::find(swept.begin(), swept.end(), dir) == swept.end()) {
      sweep_stale_temps(dir);
      swept.push_back(dir);
    }
    auto temp = TempFile::create(f.path, options_for(f));
    if (!temp.ok()) return temp.status();
    if (Status s = temp->write(f.content); !s.ok()) return s;
    if (!f.postmap) {
      if (Status s = bump_mtime_past(temp->fd(), temp->path(), f.path); !s.ok()) return s;
    }
    if (f.postmap && !postmap_dir) {
      auto d = postmap_config_dir(db.path());
      if (!d.ok()) return d.status();
      postmap_dir = *d;
    }
    staged.push_back(std::make_unique<Staged>(f.path, std::move(*temp), f.postmap ? settings.map_type : ""));
    Staged* st = staged.back().get();
    if (f.postmap) {
      auto delta = plan_incremental(f, settings.map_type);
      if (!delta.ok()) return delta.status();
      st->delta = std::move(*delta);
      auto digest = TempFile::create(map_digest_path(f.path), FileOptions{0644, {}, {}});
      if (!digest.ok()) return digest.status();
      if (Status s = digest->write(map_digest(settings.map_type, f.content)); !s.ok()) return s;
      st->digest.emplace(std::move(*digest));
    }
    // Each file is synced (and a map postmapped) in its own thread: the maps
    // are built side by side, and the next file is rendered and written
    // meanwhile. Nothing else touches a Staged until the threads are joined.
    std::vector<std::string> argv;
    if (f.postmap) argv = {"postmap", "-c", *postmap_dir, settings.map_type + ":" + st->temp.path()};
    mode_t mode = options_for(f).mode;
    workers.emplace_back([st, argv = std::move(argv), config_dir = postmap_dir.value_or(""), mode] {
      st->synced = st->temp.finish();
      if (st->synced.ok() && st->digest) st->synced = st->digest->finish();
      if (st->synced.ok() && !argv.empty()) {
        if (st->delta) st->postmap = update_incrementally(*st, config_dir, mode);
        if (!st->postmap) st->postmap = run_process(argv);
        // postmap does not fsync its output: without this, a crash after
        // the rename could leave an empty or torn database in place.
        if (st->postmap->ok() && (*st->postmap)->exit_code == 0) st->synced = sync_file(st->temp_db);
      }
    });
  }
  double stage_ms = clock.lap_ms();
  workers.clear();  // joins
  for (const auto& st : staged) {
    if (!st->synced.ok()) return st->synced;
    if (!st->postmap) continue;
    const Result<ProcessResult>& run = *st->postmap;
    if (!run.ok()) return Status(Code::kCantCreate, st->target + ": " + run.status().message());
    if (run->exit_code != 0) {
      std::string out = run->output.substr(0, run->output.find('\n'));
      return Status(Code::kCantCreate, st->target + ": postmap failed: " + out);
    }
  }
  double postmap_ms = clock.lap_ms();
  // Every file is ready: put them in place. The digests go first (and are
  // durable before anything else moves): a digest that matches the text on
  // disk then proves the database beside it was built from that text. Each
  // database goes before its source so that Postfix never sees a source
  // newer than its table.
  std::vector<std::string> digest_dirs;
  for (const auto& st : staged) {
    if (!st->digest) continue;
    if (Status s = st->digest->commit(false); !s.ok()) return s;
    std::string dir = dir_of(st->target);
    if (std::find(digest_dirs.begin(), digest_dirs.end(), dir) == digest_dirs.end()) digest_dirs.push_back(dir);
  }
  for (const std::string& dir : digest_dirs) {
    if (Status s = sync_dir(dir); !s.ok()) return s;
  }
  for (const auto& st : staged) {
    if (!st->temp_db.empty()) {
      if (Status s = TempFile::rename_into_place(st->temp_db, map_database_path(st->target, st->map_type)); !s.ok()) {
        return s;
      }
      st->temp_db.clear();
    }
    if (Status s = st->temp.commit(false); !s.ok()) return s;
    report.written.push_back(st->target);
  }
  // One folder sync per folder, after all its renames, instead of one per file.
  for (const std::string& dir : swept) {
    if (Status s = sync_dir(dir); !s.ok()) return s;
  }
  spdlog::debug(
      "export: lock {:.1f} ms, snapshot+render {:.1f} ms, stage {:.1f} ms, postmap wait {:.1f} ms, rename {:.1f} ms",
      lock_ms, render_ms, stage_ms, postmap_ms, clock.lap_ms());
  return report;
}

Result<std::vector<std::string>> export_out_of_sync(Database& db, const Settings& settings) {
  auto files = render_exports(db, settings);
  if (!files.ok()) return files.status();
  std::vector<std::string> out;
  for (const ExportedFile& f : *files) {
    auto same = in_sync(f, settings.map_type);
    if (!same.ok() || !*same) out.push_back(f.path);
  }
  return out;
}

}  // namespace vmail
