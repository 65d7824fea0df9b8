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
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <thread>

#include "core/accounts.h"
#include "core/files.h"
#include "core/process.h"
#include "core/row_policy.h"
#include "core/store.h"
#include "exporters/access_files.h"
#include "exporters/dkim_tables.h"
#include "exporters/dovecot_users.h"
#include "exporters/map_delta.h"
#include "exporters/postfix_maps.h"
#include "exporters/routes.h"

namespace vmail {
namespace {

// The names export_all writes; only these get stale temp files swept.
const char* const kExportNames[] = {"users",          "vmailbox",  "virtual",      "vdomains",    "sender_logins",
                                    "deny-imap",      "deny-pop3", "deny-sieve",   "deny-smtp",   "recipient_access",
                                    "hosted_senders", "KeyTable",  "SigningTable", "alias-quotas"};

// How long an export waits for another one's lock before it gives up: a hung
// postmap must not hang every later command (and the launcher's reload).
// VMAIL_EXPORT_LOCK_TIMEOUT, in seconds; 30 by default.
Result<std::chrono::milliseconds> lock_timeout() {
  const char* v = std::getenv("VMAIL_EXPORT_LOCK_TIMEOUT");
  if (v == nullptr || *v == '\0') return std::chrono::milliseconds(30000);
  char* end = nullptr;
  errno = 0;
  double seconds = std::strtod(v, &end);
  if (errno != 0 || *end != '\0' || !(seconds >= 0 && seconds <= 86400)) {
    return Status(Code::kConfig, "VMAIL_EXPORT_LOCK_TIMEOUT " + quote(v) + ": not a number of seconds (0 to 86400)");
  }
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

class ExportLock {
 public:
  // kBusy (75) when another process holds the lock past `timeout`.
  static Result<ExportLock> acquire(const std::string& db_path, std::chrono::milliseconds timeout) {
    std::string path = db_path + ".export-lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return Status(Code::kCantCreate, path + ": cannot open export lock: " + std::strerror(errno));
    ExportLock lock(fd);
    // flock has no timeout: poll without blocking until the deadline.
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EINTR) continue;
      if (errno != EWOULDBLOCK) return Status(Code::kCantCreate, path + ": cannot lock: " + std::strerror(errno));
      if (std::chrono::steady_clock::now() >= deadline) {
        return Status(Code::kBusy, fmt::format("{}: export lock still held by another process after {:g} s", path,
                                               static_cast<double>(timeout.count()) / 1000));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return lock;
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

// The mail folder is part of every users line: a ':' or a control character
// in it (from the environment or a recorded setting) would corrupt them all.
// The same rule as the NSS module's homes (core/row_policy.h).
Status check_mail_dir(const std::string& mail_dir) {
  if (row_safe_mail_dir(mail_dir)) return Status::Ok();
  return Status(Code::kConfig, "VMAIL_MAIL_DIR " + quote(mail_dir) +
                                   ": not usable as a home folder base (must be absolute, without '.' or '..', "
                                   "':' or a control character)");
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
  // A folder (or anything else) in the database's place is no database.
  return S_ISREG(db.st_mode) && db.st_mtim.tv_sec >= src.st_mtim.tv_sec;
}

FileOptions options_for(const ExportedFile& f) {
  FileOptions options{0644, {}, {}};
  if (!f.postmap && !f.public_file) {
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

// True for a name a killed export may have left in a folder: exactly a
// TempFile name of an exported file or its digest, or postmap's output for
// such a temp (its database, cdb's scratch copy, Berkeley DB's `__db.` file).
// Nothing else matches, so an admin's `virtual.tmpl` stays.
bool is_export_leftover(std::string_view name) {
  constexpr std::string_view kBdb = "__db.";
  if (name.substr(0, kBdb.size()) == kBdb) name.remove_prefix(kBdb.size());
  for (std::string_view suffix : {".db", ".lmdb", ".cdb", ".cdb.tmp"}) {
    if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix) {
      std::string_view temp = name.substr(0, name.size() - suffix.size());
      for (const char* base : kExportNames) {
        if (is_temp_name(temp, base)) return true;
      }
    }
  }
  for (const char* base : kExportNames) {
    if (is_temp_name(name, base) || is_temp_name(name, map_digest_path(base))) return true;
  }
  return false;
}

// Removes temp files left by an export that was killed, only while holding
// the export lock, so no running export's files are touched.
void sweep_stale_temps(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (struct dirent* e = ::readdir(d)) {
    if (!is_export_leftover(e->d_name)) continue;
    if (::unlinkat(::dirfd(d), e->d_name, 0) == 0) spdlog::debug("removed stale temp file {}/{}", dir, e->d_name);
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

// The addresses of a users file, one per line before the first ':'.
std::set<std::string_view> users_addresses(std::string_view text) {
  std::set<std::string_view> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    out.insert(line.substr(0, line.find(':')));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  return out;
}

// True when the new users file drops an address the one on disk has.
Result<bool> users_lose_an_address(const ExportedFile& users) {
  auto old = read_file(users.path);
  if (!old.ok()) return old.status();
  if (!*old) return false;
  std::set<std::string_view> now = users_addresses(users.content);
  for (std::string_view a : users_addresses(**old)) {
    if (!now.contains(a)) return true;
  }
  return false;
}

// A folder in place of a file an export renames onto makes rename(2) fail
// after other files were replaced; found before anything is written instead.
Status check_target(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Status::Ok();
  if (S_ISDIR(st.st_mode)) return Status(Code::kCantCreate, path + ": is a folder, so the export cannot replace it");
  return Status::Ok();
}

// What one export will do, decided before anything is written.
struct ExportPlan {
  std::vector<const ExportedFile*> changed;  // in render order
  std::vector<std::string> unchanged;
  // The order the changed files are renamed in. No recipient may ever be
  // accepted by Postfix that Dovecot cannot deliver to (LMTP 550, a bounce)
  // or log in: additions reach Dovecot's users file first, then the Postfix
  // maps; when the users file loses an address, the Postfix maps stop
  // accepting it first. An export that does both (after --no-export) renames
  // the maps first: mail for a new address is deferred by Postfix's own
  // "unknown" for the moment between two renames, never bounced by Dovecot.
  bool users_first = true;
};

Result<ExportPlan> plan_export(const std::vector<ExportedFile>& files, const std::string& map_type) {
  ExportPlan plan;
  for (const ExportedFile& f : files) {
    auto same = in_sync(f, map_type);
    if (!same.ok()) return same.status();
    if (*same) {
      plan.unchanged.push_back(f.path);
      continue;
    }
    for (const std::string& target :
         f.postmap ? std::vector<std::string>{f.path, map_database_path(f.path, map_type), map_digest_path(f.path)}
                   : std::vector<std::string>{f.path}) {
      if (Status s = check_target(target); !s.ok()) return s;
    }
    if (!f.postmap && f.path.ends_with("/users")) {
      auto loses = users_lose_an_address(f);
      if (!loses.ok()) return loses.status();
      plan.users_first = !*loses;
    }
    plan.changed.push_back(&f);
  }
  return plan;
}

// The staged files of one export and the threads finishing them. The threads
// are declared last so they are joined (destroyed) first: no postmap is still
// writing when a Staged removes its files.
struct Stage {
  std::vector<std::unique_ptr<Staged>> staged;
  std::vector<std::string> dirs;  // every folder written to, swept once each
  std::vector<std::jthread> workers;
};

// Writes one changed file to its temp (and its map's digest) and starts the
// thread that syncs it and, for a map, runs postmap.
Status stage_file(Stage& stage, const ExportedFile& f, const std::string& map_type,
                  std::optional<std::string>& postmap_dir, const std::string& db_path) {
  std::string dir = dir_of(f.path);
  if (Status s = make_dirs(dir); !s.ok()) return s;
  if (std::find(stage.dirs.begin(), stage.dirs.end(), dir) == stage.dirs.end()) {
    sweep_stale_temps(dir);
    stage.dirs.push_back(dir);
  }
  auto temp = TempFile::create(f.path, options_for(f));
  if (!temp.ok()) return temp.status();
  if (Status s = temp->write(f.content); !s.ok()) return s;
  if (!f.postmap) {
    if (Status s = bump_mtime_past(temp->fd(), temp->path(), f.path); !s.ok()) return s;
  }
  if (f.postmap && !postmap_dir) {
    auto d = postmap_config_dir(db_path);
    if (!d.ok()) return d.status();
    postmap_dir = *d;
  }
  stage.staged.push_back(std::make_unique<Staged>(f.path, std::move(*temp), f.postmap ? map_type : ""));
  Staged* st = stage.staged.back().get();
  if (f.postmap) {
    auto delta = plan_incremental(f, map_type);
    if (!delta.ok()) return delta.status();
    st->delta = std::move(*delta);
    auto digest = TempFile::create(map_digest_path(f.path), FileOptions{0644, {}, {}});
    if (!digest.ok()) return digest.status();
    if (Status s = digest->write(map_digest(map_type, f.content)); !s.ok()) return s;
    st->digest.emplace(std::move(*digest));
  }
  // Each file is synced (and a map postmapped) in its own thread: the maps
  // are built side by side, and the next file is rendered and written
  // meanwhile. Nothing else touches a Staged until the threads are joined.
  std::vector<std::string> argv;
  if (f.postmap) argv = {"postmap", "-c", *postmap_dir, map_type + ":" + st->temp.path()};
  mode_t mode = options_for(f).mode;
  stage.workers.emplace_back([st, argv = std::move(argv), config_dir = postmap_dir.value_or(""), mode] {
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
  return Status::Ok();
}

// Joins the threads; the first failure of any staged file.
Status wait_for_stage(Stage& stage) {
  stage.workers.clear();  // joins
  for (const auto& st : stage.staged) {
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

// Renames one staged file (and its database) into place.
Status commit_file(Staged& st) {
  if (!st.temp_db.empty()) {
    if (Status s = TempFile::rename_into_place(st.temp_db, map_database_path(st.target, st.map_type)); !s.ok()) {
      return s;
    }
    st.temp_db.clear();
  }
  return st.temp.commit(false);
}

// Every file is ready: put them in place. A rename that fails even so (the
// folder went read-only) leaves some files new and the rest old; each old
// one differs from the database, so `vmail export --check` names it and the
// next export replaces it (a map whose database is new but source old no
// longer matches its digest, so it is rebuilt in full).
Status commit_stage(Stage& stage, bool users_first, ExportReport& report) {
  // The digests go first (and are durable before anything else moves): a
  // digest that matches the text on disk then proves the database beside it
  // was built from that text.
  std::vector<std::string> digest_dirs;
  for (const auto& st : stage.staged) {
    if (!st->digest) continue;
    if (Status s = st->digest->commit(false); !s.ok()) return s;
    std::string dir = dir_of(st->target);
    if (std::find(digest_dirs.begin(), digest_dirs.end(), dir) == digest_dirs.end()) digest_dirs.push_back(dir);
  }
  for (const std::string& dir : digest_dirs) {
    if (Status s = sync_dir(dir); !s.ok()) return s;
  }
  // Each database goes before its source so that Postfix never sees a source
  // newer than its table. The users file goes first or last (see ExportPlan).
  for (bool users_pass : {users_first, !users_first}) {
    for (const auto& st : stage.staged) {
      if (st->map_type.empty() != users_pass) continue;
      if (Status s = commit_file(*st); !s.ok()) return s;
      report.written.push_back(st->target);
    }
  }
  // One folder sync per folder, after all its renames, instead of one per file.
  for (const std::string& dir : stage.dirs) {
    if (Status s = sync_dir(dir); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<ExportedFile>> render_exports(Database& db, const Settings& settings) {
  if (Status s = check_mail_dir(settings.mail_dir); !s.ok()) return s;
  Store store(db);
  auto snap = store.snapshot();
  if (!snap.ok()) return snap.status();
  auto warn = [](const std::string& why) { spdlog::warn("{}", why); };
  CheckedRows rows = check_rows(*snap, warn);
  // One virtual map and one walk of it for the three files that follow it.
  VirtualMap virtual_map = build_virtual_map(rows, warn);
  Routes routes(rows, virtual_map.lines);
  std::vector<ExportedFile> files;
  files.push_back({settings.postfix_dir + "/vmailbox", true, render_vmailbox(rows)});
  files.push_back({settings.postfix_dir + "/virtual", true, render_virtual(virtual_map, routes)});
  files.push_back({settings.postfix_dir + "/sender_logins", true, render_sender_logins(rows)});
  files.push_back({settings.postfix_dir + "/vdomains", true, render_vdomains(rows)});
  files.push_back({settings.postfix_dir + "/recipient_access", true, render_recipient_access(virtual_map, routes)});
  files.push_back({settings.postfix_dir + "/hosted_senders", true, render_hosted_senders(rows)});
  files.push_back({settings.dovecot_dir + "/users", false, render_dovecot_users(rows, settings)});
  files.push_back({settings.dovecot_dir + "/alias-quotas", false, render_alias_quotas(virtual_map, routes, settings)});
  for (const auto& [service, switch_name] : kDovecotDenyFiles) {
    files.push_back({settings.dovecot_dir + "/deny-" + service, false, render_deny_file(*snap, rows, switch_name)});
  }
  // A shared store (PostgreSQL): only the keys whose private file is on
  // this node can sign here.
  DkimUsable usable;
  if (!settings.upstream.empty()) {
    usable = [&settings](const DkimKey& k) {
      std::string path = dkim_key_path(settings, k.domain, k.selector);
      if (file_exists(path)) return true;
      spdlog::debug("DKIM key {} of {}: no private key file {} on this node, not exported", k.selector, k.domain, path);
      return false;
    };
  }
  files.push_back({settings.opendkim_dir + "/KeyTable", false, render_key_table(*snap, settings, warn, usable), true});
  files.push_back({settings.opendkim_dir + "/SigningTable", false, render_signing_table(*snap, warn, usable), true});
  return files;
}

Result<ExportReport> export_all(Database& db, const Settings& settings) {
  Stopwatch clock;
  auto timeout = lock_timeout();
  if (!timeout.ok()) return timeout.status();
  auto lock = ExportLock::acquire(db.path(), *timeout);
  if (!lock.ok()) return lock.status();
  double lock_ms = clock.lap_ms();
  auto files = render_exports(db, settings);
  if (!files.ok()) return files.status();
  auto plan = plan_export(*files, settings.map_type);
  if (!plan.ok()) return plan.status();
  double render_ms = clock.lap_ms();

  ExportReport report;
  report.unchanged = plan->unchanged;
  Stage stage;
  std::optional<std::string> postmap_dir;
  for (const ExportedFile* f : plan->changed) {
    if (Status s = stage_file(stage, *f, settings.map_type, postmap_dir, db.path()); !s.ok()) return s;
  }
  double stage_ms = clock.lap_ms();
  if (Status s = wait_for_stage(stage); !s.ok()) return s;
  double postmap_ms = clock.lap_ms();
  if (Status s = commit_stage(stage, plan->users_first, report); !s.ok()) return s;
  spdlog::debug(
      "export: lock {:.1f} ms, snapshot+render+plan {:.1f} ms, stage {:.1f} ms, postmap wait {:.1f} ms, rename {:.1f} "
      "ms",
      lock_ms, render_ms, stage_ms, postmap_ms, clock.lap_ms());
  return report;
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
  auto temp = TempFile::create(path, FileOptions{mode, {}, {}});
  if (!temp.ok()) return temp.status();
  // Staged owns the temp and removes postmap's output unless it was renamed.
  Staged staged(path, std::move(*temp), settings.map_type);
  if (Status s = staged.temp.write(content); !s.ok()) return s;
  if (Status s = staged.temp.finish(); !s.ok()) return s;
  // The map is named on the command line, never its content: postmap reads
  // the file (which may hold a secret) itself and gives the database its mode.
  auto run = run_process({"postmap", "-c", *config_dir, settings.map_type + ":" + staged.temp.path()});
  if (!run.ok()) return Status(Code::kCantCreate, path + ": " + run.status().message());
  if (run->exit_code != 0) {
    return Status(Code::kCantCreate, path + ": postmap failed: " + run->output.substr(0, run->output.find('\n')));
  }
  // postmap copies the source's mode for hash maps; set it for every type.
  // By name on purpose: the export folders are root's (admin settings, made
  // by the launcher), so no one else can put anything under this name.
  if (::chmod(staged.temp_db.c_str(), mode) != 0) {
    return Status(Code::kCantCreate, staged.temp_db + ": chmod: " + std::strerror(errno));
  }
  if (Status s = sync_file(staged.temp_db); !s.ok()) return s;
  if (Status s = commit_file(staged); !s.ok()) return s;
  if (Status s = sync_dir(dir_of(path)); !s.ok()) return s;
  return true;
}

Status remove_private_map(const std::string& path, const std::string& map_type) {
  for (const std::string& p : {map_database_path(path, map_type), path}) {
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
      return Status(Code::kCantCreate, p + ": cannot remove: " + std::strerror(errno));
    }
  }
  return Status::Ok();
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
