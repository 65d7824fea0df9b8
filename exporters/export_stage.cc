#include "exporters/export_stage.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "exporters/postfix_maps.h"

namespace vmail {

std::string export_temp_name(std::string_view name) { return std::string(name) + ".vmail.tmp"; }

namespace {

// Removes what postmap makes for the temp `temp` (its database of any type,
// cdb's scratch copy, Berkeley DB's `__db.` file): a fixed list of names, the
// leftovers of a killed export or a failed postmap. Missing names are fine.
void remove_postmap_output(const Dir& dir, const std::string& temp) {
  for (const char* suffix : {".db", ".lmdb", ".cdb", ".cdb.tmp"}) (void)dir.remove(temp + suffix);
  (void)dir.remove("__db." + temp + ".db");
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

// The lines to apply to a copy of the old database, when that is safe: the
// map type can be updated (cdb cannot), and the old database was built from
// exactly the old text (its recorded digest matches).
Result<std::optional<MapDelta>> plan_incremental(const ExportedFile& f) {
  if (f.map_type == "cdb") return std::optional<MapDelta>();
  struct stat st;
  if (::stat(map_database_path(f.path, f.map_type).c_str(), &st) != 0) return std::optional<MapDelta>();
  auto old = read_file(f.path);
  if (!old.ok()) return old.status();
  auto digest = read_file(map_digest_path(f.path));
  if (!digest.ok()) return digest.status();
  if (!*old || !*digest || **digest != map_digest(f.map_type, **old)) return std::optional<MapDelta>();
  return plan_map_delta(**old, f.content);
}

}  // namespace

// One changed file, written to its fixed temp beside its target and (for a
// map) postmapped, waiting to be renamed into place. Removes its leftovers
// unless committed.
struct Staged {
  const Dir& dir;
  std::string target;  // full path
  std::string name;    // the target's name in `dir`
  CommitGroup group;
  DirTemp temp;
  std::string map_type;           // "" when not a map
  std::string temp_db;            // postmap output beside the temp, "" once renamed
  std::optional<MapDelta> delta;  // when the old database can be updated in place of a rebuild
  std::optional<DirTemp> digest;  // the new `<map>.digest`
  Status synced;
  std::optional<Result<ProcessResult>> postmap;

  Staged(const Dir& d, std::string t, std::string n, CommitGroup g, DirTemp f, std::string m)
      : dir(d), target(std::move(t)), name(std::move(n)), group(g), temp(std::move(f)), map_type(std::move(m)) {
    if (!map_type.empty()) temp_db = map_database_path(temp.name(), map_type);
  }
  Staged(const Staged&) = delete;
  Staged& operator=(const Staged&) = delete;
  ~Staged() {
    if (!temp_db.empty()) remove_postmap_output(dir, temp.name());
  }
};

namespace {

// Updates a copy of the old database with the staged delta. nullopt when that
// did not work out: the caller rebuilds the map in full.
std::optional<Result<ProcessResult>> update_incrementally(Staged& st, const std::string& config_dir, mode_t mode) {
  if (!st.dir.copy_file(map_database_path(st.name, st.map_type), st.temp_db, mode).ok()) return std::nullopt;
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
      (void)st.dir.remove(st.temp_db);
      return std::nullopt;
    }
  }
  return last;
}

// Renames one staged file (and its database) into place.
Status commit_file(Staged& st) {
  if (!st.temp_db.empty()) {
    if (Status s = st.dir.rename_to(st.temp_db, st.dir, map_database_path(st.name, st.map_type), true); !s.ok()) {
      return s;
    }
    st.temp_db.clear();
  }
  return st.temp.commit();
}

}  // namespace

bool database_current(const std::string& source, const std::string& map_type) {
  struct stat src;
  struct stat db;
  if (::stat(source.c_str(), &src) != 0 || ::stat(map_database_path(source, map_type).c_str(), &db) != 0) return false;
  // A folder (or anything else) in the database's place is no database.
  return S_ISREG(db.st_mode) && db.st_mtim.tv_sec >= src.st_mtim.tv_sec;
}

Result<bool> export_in_sync(const ExportedFile& f) {
  auto same = file_has_content(f.path, f.content);
  if (!same.ok()) return same.status();
  return *same && metadata_matches(f.path, export_file_options(*f.spec)) &&
         (f.map_type.empty() || database_current(f.path, f.map_type));
}

Status check_target(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Status::Ok();
  if (S_ISDIR(st.st_mode)) return Status(Code::kCantCreate, path + ": is a folder, so the export cannot replace it");
  return Status::Ok();
}

Result<std::string> postmap_config_dir(const std::string& db_path) {
  std::string dir = dir_of(db_path) + "/postmap";
  std::string main_cf = dir + "/main.cf";
  struct stat st;
  if (::stat(main_cf.c_str(), &st) == 0 && st.st_mtim.tv_sec < 86400) return dir;
  if (Status s = make_dirs(dir); !s.ok()) return s;
  // A random temp name: the launcher may write it outside the export lock.
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

Stage::Stage(std::string db_path) : db_path_(std::move(db_path)) {}

Stage::~Stage() {
  workers_.clear();  // joins before the staged files and folders go
  staged_.clear();
}

const Dir* Stage::folder(const std::string& path, Status* error) {
  for (const auto& d : dirs_) {
    if (d->path() == path) return d.get();
  }
  auto dir = Dir::open_or_make(path, 0755);
  if (!dir.ok()) {
    *error = dir.status();
    return nullptr;
  }
  dirs_.push_back(std::make_unique<Dir>(std::move(*dir)));
  return dirs_.back().get();
}

Status Stage::add(const ExportedFile& f) {
  Status error = Status::Ok();
  const Dir* dir = folder(dir_of(f.path), &error);
  if (dir == nullptr) return error;
  const std::string& name = f.spec->name;
  const bool map = !f.map_type.empty();
  const FileOptions options = export_file_options(*f.spec);
  if (map) remove_postmap_output(*dir, export_temp_name(name));
  auto temp = DirTemp::create(*dir, name, export_temp_name(name), options);
  if (!temp.ok()) return temp.status();
  if (Status s = temp->write(f.content); !s.ok()) return s;
  if (!map) {
    if (Status s = bump_mtime_past(temp->fd(), temp->path(), f.path); !s.ok()) return s;
  }
  if (map && !postmap_dir_) {
    auto d = postmap_config_dir(db_path_);
    if (!d.ok()) return d.status();
    postmap_dir_ = *d;
  }
  staged_.push_back(std::make_unique<Staged>(*dir, f.path, name, f.spec->commit, std::move(*temp), f.map_type));
  Staged* st = staged_.back().get();
  if (map) {
    auto delta = plan_incremental(f);
    if (!delta.ok()) return delta.status();
    st->delta = std::move(*delta);
    std::string digest_name = base_name(map_digest_path(f.path));
    auto digest = DirTemp::create(*dir, digest_name, export_temp_name(digest_name), FileOptions{0644, {}, {}});
    if (!digest.ok()) return digest.status();
    if (Status s = digest->write(map_digest(f.map_type, f.content)); !s.ok()) return s;
    st->digest.emplace(std::move(*digest));
  }
  // Each file is synced (and a map postmapped) in its own thread: the maps
  // are built side by side, and the next file is rendered and written
  // meanwhile. Nothing else touches a Staged until the threads are joined.
  std::vector<std::string> argv;
  if (map) argv = {"postmap", "-c", *postmap_dir_, f.map_type + ":" + st->temp.path()};
  workers_.emplace_back([st, argv = std::move(argv), config_dir = postmap_dir_.value_or(""), mode = options.mode] {
    st->synced = st->temp.finish();
    if (st->synced.ok() && st->digest) st->synced = st->digest->finish();
    if (st->synced.ok() && !argv.empty()) {
      if (st->delta) st->postmap = update_incrementally(*st, config_dir, mode);
      if (!st->postmap) st->postmap = run_process(argv);
      // postmap does not fsync its output: without this, a crash after
      // the rename could leave an empty or torn database in place.
      if (st->postmap->ok() && (*st->postmap)->exit_code == 0) st->synced = st->dir.sync_file(st->temp_db);
    }
  });
  return Status::Ok();
}

Status Stage::wait() {
  workers_.clear();  // joins
  for (const auto& st : staged_) {
    if (!st->synced.ok()) return st->synced;
    if (!st->postmap) continue;
    const Result<ProcessResult>& run = *st->postmap;
    if (!run.ok()) return Status(Code::kCantCreate, st->target + ": " + run.status().message());
    if (run->exit_code != 0) {
      std::string out = run->output.substr(0, run->output.find('\n'));
      return Status(Code::kCantCreate, st->target + ": postmap failed: " + out);
    }
  }
  return Status::Ok();
}

// Every file is ready: put them in place. A rename that fails even so (the
// folder went read-only) leaves some files new and the rest old; each old
// one differs from the database, so `vmail export --check` names it and the
// next export replaces it (a map whose database is new but source old no
// longer matches its digest, so it is rebuilt in full).
Status Stage::commit(bool delivery_first, std::vector<std::string>* written) {
  // The digests go first (and are durable before anything else moves): a
  // digest that matches the text on disk then proves the database beside it
  // was built from that text.
  std::vector<const Dir*> digest_dirs;
  for (const auto& st : staged_) {
    if (!st->digest) continue;
    if (Status s = st->digest->commit(); !s.ok()) return s;
    if (std::find(digest_dirs.begin(), digest_dirs.end(), &st->dir) == digest_dirs.end()) {
      digest_dirs.push_back(&st->dir);
    }
  }
  for (const Dir* dir : digest_dirs) {
    if (Status s = dir->sync(); !s.ok()) return s;
  }
  // Each database goes before its source so that Postfix never sees a source
  // newer than its table. The groups go in the order asked (ExportPlan).
  const CommitGroup first = delivery_first ? CommitGroup::kDelivery : CommitGroup::kAcceptance;
  const CommitGroup second = delivery_first ? CommitGroup::kAcceptance : CommitGroup::kDelivery;
  for (CommitGroup group : {first, second}) {
    for (const auto& st : staged_) {
      if (st->group != group) continue;
      if (Status s = commit_file(*st); !s.ok()) return s;
      written->push_back(st->target);
    }
  }
  // One folder sync per folder, after all its renames, instead of one per file.
  for (const auto& dir : dirs_) {
    if (Status s = dir->sync(); !s.ok()) return s;
  }
  return Status::Ok();
}

Result<bool> write_private_map(const Settings& settings, const std::string& path, const std::string& content,
                               mode_t mode) {
  const std::string db_file = map_database_path(path, settings.map_type);
  struct stat st;
  auto same = file_has_content(path, content);
  if (!same.ok()) return same.status();
  if (*same && ::stat(path.c_str(), &st) == 0 && (st.st_mode & 07777) == mode &&
      database_current(path, settings.map_type)) {
    return false;
  }
  if (Status s = check_target(db_file); !s.ok()) return s;
  auto config_dir = postmap_config_dir(settings.db);
  if (!config_dir.ok()) return config_dir.status();
  auto dir = Dir::open(dir_of(path));
  if (!dir.ok()) return dir.status();
  // A fixed temp name like the exported files': only the launcher writes this
  // map, and one launcher runs per root (its instance lock).
  const std::string name = base_name(path);
  remove_postmap_output(*dir, export_temp_name(name));
  auto temp = DirTemp::create(*dir, name, export_temp_name(name), FileOptions{mode, {}, {}});
  if (!temp.ok()) return temp.status();
  // Staged owns the temp and removes postmap's output unless it was renamed.
  Staged staged(*dir, path, name, CommitGroup::kDelivery, std::move(*temp), settings.map_type);
  if (Status s = staged.temp.write(content); !s.ok()) return s;
  if (Status s = staged.temp.finish(); !s.ok()) return s;
  // The map is named on the command line, never its content: postmap reads
  // the file (which may hold a secret) itself and gives the database its mode.
  auto run = run_process({"postmap", "-c", *config_dir, settings.map_type + ":" + staged.temp.path()});
  if (!run.ok()) return Status(Code::kCantCreate, path + ": " + run.status().message());
  if (run->exit_code != 0) {
    return Status(Code::kCantCreate, path + ": postmap failed: " + run->output.substr(0, run->output.find('\n')));
  }
  // postmap copies the source's mode for hash maps; set it for every type,
  // through the folder's descriptor.
  if (Status s = dir->set_file_owner_mode(staged.temp_db, FileOptions{mode, {}, {}}); !s.ok()) return s;
  if (Status s = dir->sync_file(staged.temp_db); !s.ok()) return s;
  if (Status s = commit_file(staged); !s.ok()) return s;
  if (Status s = dir->sync(); !s.ok()) return s;
  return true;
}

Status remove_private_map(const std::string& path, const std::string& map_type) {
  // Through the folder's descriptor, like every file the exporter touches; a
  // missing folder holds no map to remove.
  struct stat st;
  if (::lstat(dir_of(path).c_str(), &st) != 0 && errno == ENOENT) return Status::Ok();
  auto dir = Dir::open(dir_of(path));
  if (!dir.ok()) return dir.status();
  for (const std::string& p : {map_database_path(path, map_type), path}) {
    if (Status s = dir->remove(base_name(p)); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace vmail
