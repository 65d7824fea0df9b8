#include "export.h"

#include <fcntl.h>
#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "dovecot_users.h"
#include "files.h"
#include "postfix_maps.h"
#include "process.h"
#include "store.h"

namespace vmail {
namespace {

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

std::optional<gid_t> dovecot_gid() {
  struct group gr;
  struct group* found = nullptr;
  char buf[4096];
  if (getgrnam_r("dovecot", &gr, buf, sizeof buf, &found) == 0 && found != nullptr) return found->gr_gid;
  return std::nullopt;
}

// postmap reads main.cf from its -c folder and pauses ~2 s when that file
// changed in the last 2 s. A private folder with a back-dated main.cf keeps
// every export free of that pause and of the instance's own main.cf edits.
Result<std::string> postmap_config_dir(const std::string& db_path) {
  std::string dir = std::filesystem::path(db_path).parent_path().string() + "/postmap";
  std::string main_cf = dir + "/main.cf";
  struct stat st;
  if (::stat(main_cf.c_str(), &st) == 0) return dir;
  if (Status s = make_dirs(dir); !s.ok()) return s;
  std::string content =
      "# Private settings for vmail's postmap runs; the server's main.cf is elsewhere.\n"
      "compatibility_level = 3.6\n";
  if (Status s = write_file_atomic(main_cf, content, FileOptions{0644, {}, {}}); !s.ok()) return s;
  struct timespec old[2] = {{0, 0}, {0, 0}};  // 1970: never "recently changed"
  ::utimensat(AT_FDCWD, main_cf.c_str(), old, 0);
  return dir;
}

bool database_current(const std::string& source, const std::string& map_type) {
  struct stat src;
  struct stat db;
  if (::stat(source.c_str(), &src) != 0 || ::stat(map_database_path(source, map_type).c_str(), &db) != 0) return false;
  return db.st_mtim.tv_sec >= src.st_mtim.tv_sec;
}

// Dovecot re-reads a passwd-file only when its mtime (whole seconds) or size
// changes. Give each new version an mtime second different from the old one.
void bump_mtime_past(int fd, const std::string& target) {
  struct stat old;
  if (::stat(target.c_str(), &old) != 0) return;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  if (now.tv_sec > old.st_mtim.tv_sec) return;
  struct timespec times[2] = {{old.st_mtim.tv_sec + 1, 0}, {old.st_mtim.tv_sec + 1, 0}};
  ::futimens(fd, times);
}

struct Staged {
  std::string target;
  TempFile temp;
  std::string temp_db;  // postmap output beside the temp, "" if none
  std::string map_type;
  ~Staged() {
    if (!temp_db.empty()) ::unlink(temp_db.c_str());
  }
  Staged(std::string t, TempFile f, std::string m) : target(std::move(t)), temp(std::move(f)), map_type(std::move(m)) {}
  Staged(Staged&& o) noexcept
      : target(std::move(o.target)), temp(std::move(o.temp)), temp_db(std::move(o.temp_db)), map_type(o.map_type) {
    o.temp_db.clear();
  }
};

}  // namespace

Result<std::vector<ExportedFile>> render_exports(Database& db, const Settings& settings) {
  Store store(db);
  auto snap = store.snapshot();
  if (!snap.ok()) return snap.status();
  auto warn = [](const std::string& why) { spdlog::warn("{}", why); };
  std::vector<ExportedFile> files;
  files.push_back({settings.dovecot_dir + "/users", false, render_dovecot_users(*snap, settings, warn)});
  files.push_back({settings.postfix_dir + "/vmailbox", true, render_vmailbox(*snap, warn)});
  files.push_back({settings.postfix_dir + "/virtual", true, render_virtual(*snap, warn)});
  files.push_back({settings.postfix_dir + "/vdomains", true, render_vdomains(*snap, warn)});
  files.push_back({settings.postfix_dir + "/sender_logins", true, render_sender_logins(*snap)});
  return files;
}

Result<ExportReport> export_all(Database& db, const Settings& settings) {
  auto lock = ExportLock::acquire(db.path());
  if (!lock.ok()) return lock.status();
  auto files = render_exports(db, settings);
  if (!files.ok()) return files.status();

  ExportReport report;
  std::vector<Staged> staged;
  std::optional<std::string> postmap_dir;
  for (const ExportedFile& f : *files) {
    auto current = read_file(f.path);
    if (!current.ok()) return current.status();
    if (*current && **current == f.content && (!f.postmap || database_current(f.path, settings.map_type))) {
      report.unchanged.push_back(f.path);
      continue;
    }
    std::string dir = std::filesystem::path(f.path).parent_path().string();
    if (Status s = make_dirs(dir); !s.ok()) return s;
    FileOptions options{0644, {}, {}};
    if (!f.postmap) {
      options.mode = 0640;  // the passwd-file holds hashes: never world-readable
      options.owner = 0;
      options.group = dovecot_gid();
    }
    auto temp = TempFile::create(f.path, options);
    if (!temp.ok()) return temp.status();
    if (Status s = temp->write(f.content); !s.ok()) return s;
    if (!f.postmap) bump_mtime_past(temp->fd(), f.path);
    if (Status s = temp->finish(); !s.ok()) return s;
    Staged st(f.path, std::move(*temp), f.postmap ? settings.map_type : "");
    if (f.postmap) {
      if (!postmap_dir) {
        auto d = postmap_config_dir(db.path());
        if (!d.ok()) return d.status();
        postmap_dir = *d;
      }
      st.temp_db = map_database_path(st.temp.path(), settings.map_type);
      auto run = run_process({"postmap", "-c", *postmap_dir, settings.map_type + ":" + st.temp.path()});
      if (!run.ok()) return Status(Code::kCantCreate, f.path + ": " + run.status().message());
      if (run->exit_code != 0) {
        std::string out = run->output.substr(0, run->output.find('\n'));
        return Status(Code::kCantCreate, f.path + ": postmap failed: " + out);
      }
    }
    staged.push_back(std::move(st));
  }
  // Every file is ready: put them in place. The database goes first so that
  // Postfix never sees a source newer than its table.
  for (Staged& st : staged) {
    if (!st.temp_db.empty()) {
      if (Status s = TempFile::rename_into_place(st.temp_db, map_database_path(st.target, st.map_type)); !s.ok()) {
        return s;
      }
      st.temp_db.clear();
    }
    if (Status s = st.temp.commit(); !s.ok()) return s;
    report.written.push_back(st.target);
  }
  return report;
}

Result<std::vector<std::string>> export_out_of_sync(Database& db, const Settings& settings) {
  auto files = render_exports(db, settings);
  if (!files.ok()) return files.status();
  std::vector<std::string> out;
  for (const ExportedFile& f : *files) {
    auto current = read_file(f.path);
    if (!current.ok() || !*current || **current != f.content ||
        (f.postmap && !database_current(f.path, settings.map_type))) {
      out.push_back(f.path);
    }
  }
  return out;
}

}  // namespace vmail
