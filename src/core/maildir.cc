#include "core/maildir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <vector>

#include "core/files.h"
#include "core/validate.h"

namespace vmail {
namespace {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_;
};

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

Status error(const std::string& path, const std::string& what) {
  return Status(Code::kCantCreate, path + ": " + what + ": " + std::strerror(errno));
}

Status check_components(const std::string& domain, const std::string& local) {
  auto d = normalize_domain(domain);
  if (!d.ok() || *d != domain) return Status(Code::kInternal, "domain " + quote(domain) + ": unsafe as a folder name");
  if (!local.empty()) {
    if (Status s = check_local_part(local); !s.ok()) {
      return Status(Code::kInternal, "local part " + quote(local) + ": unsafe as a folder name");
    }
  }
  return Status::Ok();
}

// Opens or creates the folder `name` below `parent`. A new folder is chowned
// through its descriptor, not its name: the vmail user can write `parent`, so
// by then the name may be another folder (or a symlink) put in its place.
Result<Fd> open_or_make(int parent, const std::string& name, const std::string& path, uint32_t uid, uint32_t gid) {
  bool made = mkdirat(parent, name.c_str(), 0700) == 0;
  if (!made && errno != EEXIST) return error(path, "cannot create folder");
  Fd fd(openat(parent, name.c_str(), kDirFlags));
  if (!fd.valid()) {
    if (errno == ELOOP || errno == ENOTDIR) return Status(Code::kCantCreate, path + ": not a folder (symlink?)");
    return error(path, "cannot open folder");
  }
  if (made && geteuid() == 0 && fchown(fd.get(), uid, gid) != 0) return error(path, "cannot change owner");
  return fd;
}

// A stream over a duplicate of the open folder `dir`, for the caller to
// closedir(); nullptr (errno set) on failure.
DIR* dir_stream(int dir) {
  int dup_fd = fcntl(dir, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return nullptr;
  DIR* d = fdopendir(dup_fd);
  if (d == nullptr) {
    int err = errno;
    ::close(dup_fd);
    errno = err;
  }
  return d;
}

// Removes everything inside the open folder `dir`, then nothing else.
Status remove_contents(int dir, const std::string& path) {
  DIR* d = dir_stream(dir);
  if (d == nullptr) return error(path, "cannot read folder");
  Status result;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      Fd child(openat(dir, name.c_str(), kDirFlags));
      if (!child.valid()) {
        result = error(path + "/" + name, "cannot open folder");
        break;
      }
      if (Status s = remove_contents(child.get(), path + "/" + name); !s.ok()) {
        result = s;
        break;
      }
      if (unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0) {
        result = error(path + "/" + name, "cannot remove folder");
        break;
      }
    } else if (unlinkat(dir, name.c_str(), 0) != 0) {  // files and symlinks themselves
      result = error(path + "/" + name, "cannot remove");
      break;
    }
  }
  closedir(d);
  return result;
}

// Opens or makes each of `names` below mail_dir in turn; `path` ends as the
// last folder's path.
Result<Fd> make_below(const std::string& mail_dir, const std::vector<std::string>& names, uint32_t uid, uint32_t gid,
                      std::string& path) {
  if (Status s = make_dirs(mail_dir, 0755); !s.ok()) return s;
  Fd current(::open(mail_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!current.valid()) return error(mail_dir, "cannot open mail folder");
  path = mail_dir;
  for (const std::string& name : names) {
    path += "/" + name;
    auto next = open_or_make(current.get(), name, path, uid, gid);
    if (!next.ok()) return next.status();
    current = std::move(*next);
  }
  return current;
}

// True when the folder `name` below `dir` has an entry; false when missing.
Result<bool> has_entries(int dir, const char* name, const std::string& path) {
  int fd = openat(dir, name, kDirFlags);
  if (fd < 0) return errno == ENOENT ? Result<bool>(false) : Result<bool>(error(path, "cannot open folder"));
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return error(path, "cannot read folder");
  }
  bool found = false;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      found = true;
      break;
    }
  }
  closedir(d);
  return found;
}

}  // namespace

Status create_maildir(const std::string& mail_dir, const std::string& domain, const std::string& local, uint32_t uid,
                      uint32_t gid) {
  if (Status s = check_components(domain, local); !s.ok()) return s;
  std::string path;
  auto maildir = make_below(mail_dir, {domain, local, "Maildir"}, uid, gid, path);
  if (!maildir.ok()) return maildir.status();
  for (const char* sub : {"cur", "new", "tmp"}) {
    auto fd = open_or_make(maildir->get(), sub, path + "/" + sub, uid, gid);
    if (!fd.ok()) return fd.status();
  }
  return Status::Ok();
}

Status create_domain_dir(const std::string& mail_dir, const std::string& domain, uint32_t uid, uint32_t gid) {
  if (Status s = check_components(domain, ""); !s.ok()) return s;
  std::string path;
  return make_below(mail_dir, {domain}, uid, gid, path).status();
}

Result<DomainMaildirs> DomainMaildirs::open(const std::string& mail_dir, const std::string& domain) {
  if (Status s = check_components(domain, ""); !s.ok()) return s;
  std::string path = mail_dir + "/" + domain;
  Fd base(::open(mail_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!base.valid()) {
    if (errno == ENOENT) return DomainMaildirs(-1, path);
    return error(mail_dir, "cannot open mail folder");
  }
  int fd = openat(base.get(), domain.c_str(), kDirFlags);
  if (fd < 0 && errno != ENOENT) return error(path, "cannot open folder");
  return DomainMaildirs(fd, path);
}

DomainMaildirs::DomainMaildirs(DomainMaildirs&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

DomainMaildirs::~DomainMaildirs() {
  if (fd_ >= 0) ::close(fd_);
}

Result<bool> DomainMaildirs::holds_mail(const std::string& local) const {
  if (fd_ < 0) return false;
  if (Status s = check_local_part(local); !s.ok()) {
    return Status(Code::kInternal, "local part " + quote(local) + ": unsafe as a folder name");
  }
  std::string path = path_ + "/" + local;
  Fd home(openat(fd_, local.c_str(), kDirFlags));
  if (!home.valid()) return errno == ENOENT ? Result<bool>(false) : Result<bool>(error(path, "cannot open folder"));
  path += "/Maildir";
  Fd maildir(openat(home.get(), "Maildir", kDirFlags));
  if (!maildir.valid()) return errno == ENOENT ? Result<bool>(false) : Result<bool>(error(path, "cannot open folder"));
  for (const char* sub : {"cur", "new"}) {
    auto found = has_entries(maildir.get(), sub, path + "/" + sub);
    if (!found.ok() || *found) return found;
  }
  return false;
}

Result<bool> maildir_holds_mail(const std::string& mail_dir, const std::string& domain, const std::string& local) {
  auto dir = DomainMaildirs::open(mail_dir, domain);
  if (!dir.ok()) return dir.status();
  return dir->holds_mail(local);
}

Status purge_maildir(const std::string& mail_dir, const std::string& domain, const std::string& local) {
  if (Status s = check_components(domain, local); !s.ok()) return s;
  Fd base(::open(mail_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!base.valid()) return errno == ENOENT ? Status::Ok() : error(mail_dir, "cannot open mail folder");
  Fd parent = std::move(base);
  std::string path = mail_dir;
  std::string target = domain;
  if (!local.empty()) {
    Fd dom(openat(parent.get(), domain.c_str(), kDirFlags));
    if (!dom.valid()) {
      if (errno == ENOENT) return Status::Ok();
      return Status(Code::kCantCreate, mail_dir + "/" + domain + ": not a folder (symlink?), not removed");
    }
    parent = std::move(dom);
    path += "/" + domain;
    target = local;
  }
  path += "/" + target;
  struct stat st;
  if (fstatat(parent.get(), target.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status::Ok() : error(path, "cannot inspect");
  }
  if (!S_ISDIR(st.st_mode)) {
    // A symlink in place of the maildir: remove the link, never its target.
    if (unlinkat(parent.get(), target.c_str(), 0) != 0) return error(path, "cannot remove");
    return Status::Ok();
  }
  Fd victim(openat(parent.get(), target.c_str(), kDirFlags));
  if (!victim.valid()) return error(path, "cannot open folder");
  if (Status s = remove_contents(victim.get(), path); !s.ok()) return s;
  if (unlinkat(parent.get(), target.c_str(), AT_REMOVEDIR) != 0) return error(path, "cannot remove folder");
  return Status::Ok();
}

}  // namespace vmail

namespace vmail {
namespace {

// Whether the open folder `dir` has an entry `wanted` accepts.
Result<bool> any_entry(int dir, const std::string& path, const std::function<bool(const char*, int)>& wanted) {
  DIR* d = dir_stream(dir);
  if (d == nullptr) return error(path, "cannot read folder");
  bool found = false;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    struct stat st;
    if (fstatat(dir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (wanted(e->d_name, S_ISDIR(st.st_mode) ? 1 : 0)) {
      found = true;
      break;
    }
  }
  closedir(d);
  return found;
}

}  // namespace

Result<bool> maildir_has_mail(const std::string& mail_dir, const std::string& domain, const std::string& local) {
  if (Status s = check_components(domain, local); !s.ok()) return s;
  Fd current(::open(mail_dir.c_str(), kDirFlags));
  int err = errno;
  std::string path = mail_dir;
  for (const std::string& name : {domain, local, std::string("Maildir")}) {
    if (!current.valid()) break;
    path += "/" + name;
    int fd = openat(current.get(), name.c_str(), kDirFlags);
    err = errno;
    current = Fd(fd);
  }
  if (!current.valid()) {
    if (err == ENOENT || err == ELOOP || err == ENOTDIR) return false;
    errno = err;
    return error(path, "cannot open folder");
  }
  auto subfolder = any_entry(current.get(), path, [](const char* name, int is_dir) {
    return is_dir != 0 && std::strcmp(name, "cur") != 0 && std::strcmp(name, "new") != 0 &&
           std::strcmp(name, "tmp") != 0;
  });
  if (!subfolder.ok() || *subfolder) return subfolder;
  for (const char* sub : {"cur", "new"}) {
    Fd fd(openat(current.get(), sub, kDirFlags));
    if (!fd.valid()) continue;
    auto any = any_entry(fd.get(), path + "/" + sub, [](const char*, int) { return true; });
    if (!any.ok() || *any) return any;
  }
  return false;
}

}  // namespace vmail
