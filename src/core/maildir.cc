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

// Opens or makes each of `names` below mail_dir in turn (files.h Dir: by
// descriptor, a new folder chowned through its descriptor, a symlink in the
// way refused). The vmail user can write every folder below mail_dir.
Result<Dir> make_below(const std::string& mail_dir, const std::vector<std::string>& names, uint32_t uid, uint32_t gid) {
  auto current = Dir::open_or_make(mail_dir, 0755);
  if (!current.ok()) return current.status();
  for (const std::string& name : names) {
    auto next = current->make_sub(name, 0700, uid, gid);
    if (!next.ok()) return next.status();
    *current = std::move(*next);
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
  auto maildir = make_below(mail_dir, {domain, local, "Maildir"}, uid, gid);
  if (!maildir.ok()) return maildir.status();
  for (const char* sub : {"cur", "new", "tmp"}) {
    auto made = maildir->make_sub(sub, 0700, uid, gid);
    if (!made.ok()) return made.status();
  }
  return Status::Ok();
}

Status create_domain_dir(const std::string& mail_dir, const std::string& domain, uint32_t uid, uint32_t gid) {
  if (Status s = check_components(domain, ""); !s.ok()) return s;
  return make_below(mail_dir, {domain}, uid, gid).status();
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
  auto base = Dir::open(mail_dir);
  if (!base.ok()) return file_exists(mail_dir) ? base.status() : Status::Ok();
  if (local.empty()) return base->remove_tree(domain);
  auto dom = base->sub(domain);
  if (!dom.ok()) return Status(Code::kCantCreate, mail_dir + "/" + domain + ": not a folder (symlink?), not removed");
  if (!*dom) return Status::Ok();
  return (*dom)->remove_tree(local);
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
