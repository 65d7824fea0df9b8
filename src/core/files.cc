#include "core/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string_view>
#include <vector>

namespace vmail {

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The suffix TempFile::create asks mkostemp to replace.
constexpr std::string_view kTempSuffix = ".tmp";
constexpr size_t kTempRandom = 6;

bool is_temp_name(std::string_view name, std::string_view target_name) {
  if (name.size() != target_name.size() + kTempSuffix.size() + kTempRandom) return false;
  if (name.substr(0, target_name.size()) != target_name) return false;
  if (name.substr(target_name.size(), kTempSuffix.size()) != kTempSuffix) return false;
  for (char c : name.substr(target_name.size() + kTempSuffix.size())) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum) return false;
  }
  return true;
}

namespace {

Status io_error(const std::string& path, const std::string& what, int err) {
  // Disk full and quota are I/O errors (74); anything else means the file
  // could not be created where it belongs (73).
  Code code = (err == ENOSPC || err == EDQUOT || err == EIO) ? Code::kIoError : Code::kCantCreate;
  return Status(code, path + ": " + what + ": " + std::strerror(err));
}

WriteFault& write_fault() {
  static WriteFault fault;
  return fault;
}

int injected_error(const std::string& temp) { return write_fault() ? write_fault()(temp) : 0; }

// Every byte of `content` to `fd` (a short write goes on, EINTR retries), or
// the error a test injected for `temp`: the errno of the failure, 0 when all
// was written. The one write loop of every temp file this layer makes.
int write_all(int fd, std::string_view content, const std::string& temp) {
  if (int err = injected_error(temp); err != 0) return err;
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    done += static_cast<size_t>(n);
  }
  return 0;
}

RenameFault& rename_fault() {
  static RenameFault fault;
  return fault;
}

// rename(2), or the error a test asked for.
int rename_file(const std::string& from, const std::string& to) {
  if (rename_fault()) {
    if (int err = rename_fault()(to); err != 0) {
      errno = err;
      return -1;
    }
  }
  return ::rename(from.c_str(), to.c_str());
}

}  // namespace

void set_write_fault_for_testing(WriteFault fault) { write_fault() = std::move(fault); }
void set_rename_fault_for_testing(RenameFault fault) { rename_fault() = std::move(fault); }

namespace {

// Reads `fd` in chunks, handing each to `chunk` until it returns false (then
// the result is false) or the file ends (true). Closes `fd`.
Result<bool> read_chunks(int fd, const std::string& path, const std::function<bool(std::string_view)>& chunk) {
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return io_error(path, "cannot read", err);
    }
    if (n == 0) break;
    if (!chunk(std::string_view(buf, static_cast<size_t>(n)))) {
      ::close(fd);
      return false;
    }
  }
  ::close(fd);
  return true;
}

}  // namespace

Result<std::optional<std::string>> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return io_error(path, "cannot read", errno);
  }
  std::string out;
  auto read = read_chunks(fd, path, [&out](std::string_view chunk) {
    out.append(chunk);
    return true;
  });
  if (!read.ok()) return read.status();
  return std::optional<std::string>(std::move(out));
}

Result<std::string> read_secret_file(const std::string& setting, const std::string& path) {
  const std::string field = setting + " " + path;
  // One line: 4 KiB is far above any password; a wrong path is not read whole.
  constexpr size_t kMaxSecretFile = 4096;
  auto content = read_file_limited(path, kMaxSecretFile);
  if (!content.ok() && content.status().code() == Code::kBadInput) {
    return Status(Code::kConfig, field + ": larger than the limit of " + format_limit(kMaxSecretFile));
  }
  if (!content.ok()) return Status(Code::kConfig, field + ": cannot be read: " + content.status().message());
  if (!*content) return Status(Code::kConfig, field + ": no such file");
  std::string secret = std::move(**content);
  if (secret.ends_with("\r\n")) {
    secret.resize(secret.size() - 2);
  } else if (secret.ends_with("\n")) {
    secret.pop_back();
  }
  if (secret.empty()) return Status(Code::kConfig, field + ": is empty");
  if (secret.find_first_of("\r\n") != std::string::npos) {
    return Status(Code::kConfig, field + ": must be one line (it holds a line break)");
  }
  for (char c : secret) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return Status(Code::kConfig, field + ": holds a control character");
  }
  return secret;
}

std::string format_limit(size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

namespace {

Status too_large(const std::string& name, size_t max_bytes) {
  return Status(Code::kBadInput, name + ": larger than the limit of " + format_limit(max_bytes));
}

// Reads `fd` up to max_bytes; one byte more is the refusal. `fd` stays open.
Result<std::string> read_limited(int fd, const std::string& name, size_t max_bytes) {
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    if (static_cast<uint64_t>(st.st_size) > max_bytes) return too_large(name, max_bytes);
  }
  std::string out;
  char buf[65536];
  while (true) {
    size_t want = std::min(sizeof buf, max_bytes + 1 - out.size());
    ssize_t n = ::read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(name, "cannot read", errno);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    // A file that grew after fstat, or one without a size (a pipe, a device).
    if (out.size() > max_bytes) return too_large(name, max_bytes);
  }
  return out;
}

}  // namespace

Result<std::string> read_fd_limited(int fd, const std::string& name, size_t max_bytes) {
  return read_limited(fd, name, max_bytes);
}

Result<std::optional<std::string>> read_file_limited(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return io_error(path, "cannot read", errno);
  }
  auto out = read_limited(fd, path, max_bytes);
  ::close(fd);
  if (!out.ok()) return out.status();
  return std::optional<std::string>(std::move(*out));
}

Result<bool> file_has_content(const std::string& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    return io_error(path, "cannot read", errno);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) != content.size()) {
    ::close(fd);
    return false;
  }
  size_t done = 0;
  auto same = read_chunks(fd, path, [&](std::string_view chunk) {
    if (done + chunk.size() > content.size() || std::memcmp(chunk.data(), content.data() + done, chunk.size()) != 0) {
      return false;
    }
    done += chunk.size();
    return true;
  });
  if (!same.ok()) return same.status();
  return *same && done == content.size();
}

Status make_dirs(const std::string& path, mode_t mode) {
  if (path.empty()) return Status::Ok();
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::Ok();
    return Status(Code::kCantCreate, path + ": exists and is not a folder");
  }
  std::string parent = dir_of(path);
  if (parent != path && parent != "/" && parent != ".") {
    if (Status s = make_dirs(parent, mode); !s.ok()) return s;
  }
  // By name on purpose: make_dirs makes an admin's setting (a path whose
  // parents are root's); below folders others can write, Dir::make_sub is
  // the way (mkdirat + O_NOFOLLOW open + fchmod by descriptor).
  if (::mkdir(path.c_str(), mode) != 0) {
    // Made meanwhile by another process: kept as it is, like any folder
    // that existed before.
    if (errno == EEXIST) return Status::Ok();
    return io_error(path, "cannot create folder", errno);
  }
  // umask may have narrowed the mode: set it through the new folder's
  // descriptor (O_NOFOLLOW: if the name is no longer our folder, leave it).
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return io_error(path, "cannot open folder", errno);
  int rc = ::fchmod(fd, mode);
  int err = errno;
  ::close(fd);
  if (rc != 0) return io_error(path, "cannot set mode", err);
  return Status::Ok();
}

Status sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error(dir, "cannot open folder", errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) return io_error(dir, "cannot sync folder", err);
  return Status::Ok();
}

Status copy_file(const std::string& from, const std::string& to, mode_t mode) {
  int in = ::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return io_error(from, "cannot open", errno);
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    int err = errno;
    ::close(in);
    return io_error(to, "cannot create", err);
  }
  Status status = Status::Ok();
  if (::fchmod(out, mode) != 0) status = io_error(to, "cannot set mode", errno);
  while (status.ok()) {
    ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) status = io_error(to, "cannot copy", errno);
    if (n <= 0) break;
  }
  ::close(in);
  if (::close(out) != 0 && status.ok()) status = io_error(to, "cannot write", errno);
  if (!status.ok()) ::unlink(to.c_str());
  return status;
}

Status sync_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return io_error(path, "cannot open", errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return io_error(path, "cannot sync", err);
  return Status::Ok();
}

Result<TempFile> TempFile::create(const std::string& target, const FileOptions& options) {
  std::string pattern = target + std::string(kTempSuffix) + std::string(kTempRandom, 'X');
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  int fd = ::mkostemp(buf.data(), O_CLOEXEC);
  if (fd < 0) return io_error(target, "cannot create temp file", errno);
  TempFile tmp(target, std::string(buf.data()), fd, options.durable);
  if (::fchmod(fd, options.mode) != 0) return io_error(tmp.temp_, "cannot set mode", errno);
  if ((options.owner || options.group) && geteuid() == 0) {
    if (::fchown(fd, options.owner.value_or(static_cast<uid_t>(-1)), options.group.value_or(static_cast<gid_t>(-1))) !=
        0) {
      return io_error(tmp.temp_, "cannot set owner", errno);
    }
  }
  return tmp;
}

TempFile::TempFile(TempFile&& other) noexcept
    : target_(std::move(other.target_)),
      temp_(std::move(other.temp_)),
      fd_(other.fd_),
      durable_(other.durable_),
      committed_(other.committed_) {
  other.fd_ = -1;
  other.committed_ = true;
}

TempFile::~TempFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

Status TempFile::write(const std::string& content) {
  if (int err = write_all(fd_, content, temp_); err != 0) return io_error(temp_, "cannot write", err);
  return Status::Ok();
}

Status TempFile::finish() {
  if (fd_ < 0) return Status::Ok();
  if (int err = injected_error(temp_); err != 0) return io_error(temp_, "cannot sync", err);
  if (durable_ && ::fsync(fd_) != 0) return io_error(temp_, "cannot sync", errno);
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return io_error(temp_, "cannot close", errno);
  return Status::Ok();
}

Status TempFile::commit(bool sync_folder) {
  if (Status s = finish(); !s.ok()) return s;
  if (rename_file(temp_, target_) != 0) return io_error(target_, "cannot replace", errno);
  committed_ = true;
  return sync_folder && durable_ ? sync_dir(dir_of(target_)) : Status::Ok();
}

Status TempFile::rename_into_place(const std::string& from, const std::string& to) {
  if (rename_file(from, to) != 0) return io_error(to, "cannot replace", errno);
  return Status::Ok();
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

Status write_file_atomic(const std::string& path, const std::string& content, const FileOptions& options) {
  auto tmp = TempFile::create(path, options);
  if (!tmp.ok()) return tmp.status();
  if (Status s = tmp->write(content); !s.ok()) return s;
  return tmp->commit();
}

}  // namespace vmail

namespace vmail {

bool is_path_component(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  return name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

namespace {

constexpr int kDirOpenFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

Status bad_component(const std::string& dir, std::string_view name) {
  return Status(Code::kInternal, dir + ": " + quote(std::string(name)) + " is not a single folder entry");
}

std::string join(const std::string& dir, std::string_view name) {
  return dir == "/" ? "/" + std::string(name) : dir + "/" + std::string(name);
}

// Six letters or digits for a temp name (is_temp_name's pattern).
std::string random_suffix() {
  static constexpr char kAlnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  unsigned char bytes[kTempRandom];
  if (::getentropy(bytes, sizeof bytes) != 0) {
    uint64_t x = static_cast<uint64_t>(::getpid()) * 2654435761u ^ static_cast<uint64_t>(::time(nullptr));
    for (auto& b : bytes) b = static_cast<unsigned char>(x >>= 5);
  }
  std::string out;
  for (unsigned char b : bytes) out += kAlnum[b % (sizeof kAlnum - 1)];
  return out;
}

}  // namespace

Result<Dir> Dir::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error(path, "cannot open folder", errno);
  return Dir(fd, path);
}

Result<Dir> Dir::open_or_make(const std::string& path, mode_t mode) {
  if (Status s = make_dirs(path, mode); !s.ok()) return s;
  return open(path);
}

Dir::Dir(Dir&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) { other.fd_ = -1; }

Dir& Dir::operator=(Dir&& other) noexcept {
  std::swap(fd_, other.fd_);
  std::swap(path_, other.path_);
  return *this;
}

Dir::~Dir() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::optional<Dir>> Dir::sub(std::string_view name) const {
  if (!is_path_component(name)) return bad_component(path_, name);
  std::string path = join(path_, name);
  int fd = ::openat(fd_, std::string(name).c_str(), kDirOpenFlags);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<Dir>();
    if (errno == ELOOP || errno == ENOTDIR) return Status(Code::kCantCreate, path + ": not a folder (symlink?)");
    return io_error(path, "cannot open folder", errno);
  }
  return std::optional<Dir>(Dir(fd, path));
}

Result<Dir> Dir::make_sub(std::string_view name, mode_t mode, std::optional<uid_t> owner,
                          std::optional<gid_t> group) const {
  if (!is_path_component(name)) return bad_component(path_, name);
  std::string path = join(path_, name);
  std::string entry(name);
  bool made = ::mkdirat(fd_, entry.c_str(), 0700) == 0;
  if (!made && errno != EEXIST) return io_error(path, "cannot create folder", errno);
  int fd = ::openat(fd_, entry.c_str(), kDirOpenFlags);
  if (fd < 0) {
    if (errno == ELOOP || errno == ENOTDIR) return Status(Code::kCantCreate, path + ": not a folder (symlink?)");
    return io_error(path, "cannot open folder", errno);
  }
  Dir dir(fd, path);
  if (!made) return dir;
  // By descriptor: whoever can write this folder may already have put
  // something else under the name.
  if ((owner || group) && geteuid() == 0 &&
      ::fchown(fd, owner.value_or(static_cast<uid_t>(-1)), group.value_or(static_cast<gid_t>(-1))) != 0) {
    return io_error(path, "cannot set owner", errno);
  }
  if (::fchmod(fd, mode) != 0) return io_error(path, "cannot set mode", errno);
  return dir;
}

Status Dir::write_file(std::string_view name, std::string_view content, const FileOptions& options) const {
  if (!is_path_component(name) || name.size() + kTempSuffix.size() + kTempRandom > 255) {
    return bad_component(path_, name);
  }
  const std::string target(name);
  const std::string target_path = join(path_, name);
  std::string temp;
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
    temp = target + std::string(kTempSuffix) + random_suffix();
    fd = ::openat(fd_, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) return io_error(target_path, "cannot create temp file", errno);
  }
  if (fd < 0) return io_error(target_path, "cannot create temp file", EEXIST);
  const std::string temp_path = join(path_, temp);
  auto fail = [&](const std::string& what, int err) {
    ::close(fd);
    ::unlinkat(fd_, temp.c_str(), 0);
    return io_error(what == "cannot replace" ? target_path : temp_path, what, err);
  };
  if (::fchmod(fd, options.mode) != 0) return fail("cannot set mode", errno);
  if ((options.owner || options.group) && geteuid() == 0 &&
      ::fchown(fd, options.owner.value_or(static_cast<uid_t>(-1)), options.group.value_or(static_cast<gid_t>(-1))) !=
          0) {
    return fail("cannot set owner", errno);
  }
  if (int err = write_all(fd, content, temp_path); err != 0) return fail("cannot write", err);
  if (options.durable && ::fsync(fd) != 0) return fail("cannot sync", errno);
  if (::close(fd) != 0) {
    fd = -1;
    int err = errno;
    ::unlinkat(fd_, temp.c_str(), 0);
    return io_error(temp_path, "cannot close", err);
  }
  fd = -1;
  int err = rename_fault() ? rename_fault()(target_path) : 0;
  if (err == 0 && ::renameat2(fd_, temp.c_str(), fd_, target.c_str(), options.replace ? 0 : RENAME_NOREPLACE) != 0) {
    err = errno;
  }
  if (err != 0) {
    ::unlinkat(fd_, temp.c_str(), 0);
    if (err == EEXIST && !options.replace) return Status(Code::kCantCreate, target_path + ": exists already");
    return io_error(target_path, "cannot replace", err);
  }
  if (options.durable && ::fsync(fd_) != 0 && errno != EINVAL) return io_error(path_, "cannot sync folder", errno);
  return Status::Ok();
}

Result<std::optional<std::string>> Dir::read_file(std::string_view name, size_t max_bytes) const {
  if (!is_path_component(name)) return bad_component(path_, name);
  std::string path = join(path_, name);
  int fd = ::openat(fd_, std::string(name).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return io_error(path, "cannot read", errno);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status(Code::kCantCreate, path + ": not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return Status(Code::kBadInput, path + ": larger than " + std::to_string(max_bytes) + " bytes");
  }
  std::string out;
  bool too_big = false;
  auto read = read_chunks(fd, path, [&](std::string_view chunk) {
    out.append(chunk);
    too_big = out.size() > max_bytes;
    return !too_big;
  });
  if (!read.ok()) return read.status();
  if (too_big) return Status(Code::kBadInput, path + ": larger than " + std::to_string(max_bytes) + " bytes");
  return std::optional<std::string>(std::move(out));
}

bool Dir::has(std::string_view name) const {
  if (!is_path_component(name)) return false;
  struct stat st;
  return ::fstatat(fd_, std::string(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

Status Dir::remove(std::string_view name) const {
  if (!is_path_component(name)) return bad_component(path_, name);
  if (::unlinkat(fd_, std::string(name).c_str(), 0) != 0 && errno != ENOENT) {
    return io_error(join(path_, name), "cannot remove", errno);
  }
  return Status::Ok();
}

namespace {

// Removes everything inside the open folder `dir`, then nothing else.
Status remove_contents(int dir, const std::string& path) {
  int dup_fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup_fd < 0) return io_error(path, "cannot read folder", errno);
  DIR* d = ::fdopendir(dup_fd);
  if (d == nullptr) {
    int err = errno;
    ::close(dup_fd);
    return io_error(path, "cannot read folder", err);
  }
  Status result = Status::Ok();
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string child_path = join(path, name);
    struct stat st;
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      int child = ::openat(dir, name.c_str(), kDirOpenFlags);
      if (child < 0) {
        result = io_error(child_path, "cannot open folder", errno);
        break;
      }
      result = remove_contents(child, child_path);
      ::close(child);
      if (!result.ok()) break;
      if (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0) {
        result = io_error(child_path, "cannot remove folder", errno);
        break;
      }
    } else if (::unlinkat(dir, name.c_str(), 0) != 0) {  // files and symlinks themselves
      result = io_error(child_path, "cannot remove", errno);
      break;
    }
  }
  ::closedir(d);
  return result;
}

}  // namespace

Status Dir::remove_tree(std::string_view name) const {
  if (!is_path_component(name)) return bad_component(path_, name);
  std::string entry(name);
  std::string path = join(path_, name);
  struct stat st;
  if (::fstatat(fd_, entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status::Ok() : io_error(path, "cannot inspect", errno);
  }
  if (!S_ISDIR(st.st_mode)) return remove(name);  // a file, or a symlink itself
  auto sub_dir = sub(name);
  if (!sub_dir.ok()) return sub_dir.status();
  if (!*sub_dir) return Status::Ok();
  if (Status s = remove_contents((*sub_dir)->fd(), path); !s.ok()) return s;
  if (::unlinkat(fd_, entry.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return io_error(path, "cannot remove folder", errno);
  }
  return Status::Ok();
}

Status Dir::remove_empty_dir(std::string_view name) const {
  if (!is_path_component(name)) return bad_component(path_, name);
  if (::unlinkat(fd_, std::string(name).c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT && errno != ENOTEMPTY &&
      errno != EEXIST) {
    return io_error(join(path_, name), "cannot remove folder", errno);
  }
  return Status::Ok();
}

Result<std::vector<std::string>> Dir::entries() const {
  int dup_fd = ::openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup_fd < 0) return io_error(path_, "cannot read folder", errno);
  DIR* d = ::fdopendir(dup_fd);
  if (d == nullptr) {
    int err = errno;
    ::close(dup_fd);
    return io_error(path_, "cannot read folder", err);
  }
  std::vector<std::string> out;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") out.emplace_back(n);
  }
  ::closedir(d);
  return out;
}

Status Dir::set_owner_mode(uid_t owner, gid_t group, mode_t mode) const {
  if (::fchown(fd_, owner, group) != 0) return io_error(path_, "cannot set owner", errno);
  if (::fchmod(fd_, mode) != 0) return io_error(path_, "cannot set mode", errno);
  return Status::Ok();
}

Status Dir::set_file_owner_mode(std::string_view name, const FileOptions& options) const {
  if (!is_path_component(name)) return bad_component(path_, name);
  std::string path = join(path_, name);
  int fd = ::openat(fd_, std::string(name).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return io_error(path, "cannot open", errno);
  struct stat st;
  Status result = Status::Ok();
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    result = Status(Code::kCantCreate, path + ": not a regular file");
  } else if ((options.owner || options.group) && ::fchown(fd, options.owner.value_or(static_cast<uid_t>(-1)),
                                                          options.group.value_or(static_cast<gid_t>(-1))) != 0) {
    result = io_error(path, "cannot set owner", errno);
  } else if (::fchmod(fd, options.mode) != 0) {
    result = io_error(path, "cannot set mode", errno);
  }
  ::close(fd);
  return result;
}

Status set_dir_owner_mode(const std::string& path, uid_t owner, gid_t group, mode_t mode) {
  auto parent = Dir::open(dir_of(path));
  if (!parent.ok()) return parent.status();
  std::string name = base_name(path);
  auto dir = parent->sub(name);
  if (!dir.ok()) return dir.status();
  if (!*dir) return Status(Code::kCantCreate, path + ": no such folder");
  return (*dir)->set_owner_mode(owner, group, mode);
}

Status Dir::rename_to(std::string_view from, const Dir& target, std::string_view to, bool replace) const {
  if (!is_path_component(from)) return bad_component(path_, from);
  if (!is_path_component(to)) return bad_component(target.path_, to);
  std::string to_path = join(target.path_, to);
  int err = rename_fault() ? rename_fault()(to_path) : 0;
  if (err == 0 && ::renameat2(fd_, std::string(from).c_str(), target.fd_, std::string(to).c_str(),
                              replace ? 0 : RENAME_NOREPLACE) != 0) {
    err = errno;
  }
  if (err == EEXIST) return Status(Code::kCantCreate, to_path + ": exists already");
  if (err != 0) return io_error(to_path, "cannot rename into place", err);
  return Status::Ok();
}

}  // namespace vmail

namespace vmail {

Status Dir::copy_file(std::string_view from, std::string_view to, mode_t mode) const {
  if (!is_path_component(from)) return bad_component(path_, from);
  if (!is_path_component(to)) return bad_component(path_, to);
  const std::string from_path = join(path_, from);
  const std::string to_path = join(path_, to);
  const std::string to_name(to);
  int in = ::openat(fd_, std::string(from).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return io_error(from_path, "cannot open", errno);
  int out = ::openat(fd_, to_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    int err = errno;
    ::close(in);
    return io_error(to_path, "cannot create", err);
  }
  Status status = Status::Ok();
  if (::fchmod(out, mode) != 0) status = io_error(to_path, "cannot set mode", errno);
  while (status.ok()) {
    ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) status = io_error(to_path, "cannot copy", errno);
    if (n <= 0) break;
  }
  ::close(in);
  if (::close(out) != 0 && status.ok()) status = io_error(to_path, "cannot write", errno);
  if (!status.ok()) ::unlinkat(fd_, to_name.c_str(), 0);
  return status;
}

Status Dir::sync_file(std::string_view name) const {
  if (!is_path_component(name)) return bad_component(path_, name);
  int fd = ::openat(fd_, std::string(name).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return io_error(join(path_, name), "cannot open", errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return io_error(join(path_, name), "cannot sync", err);
  return Status::Ok();
}

Status Dir::sync() const {
  if (::fsync(fd_) != 0 && errno != EINVAL) return io_error(path_, "cannot sync folder", errno);
  return Status::Ok();
}

DirTemp::DirTemp(const Dir* dir, std::string target, std::string temp, int fd, bool durable)
    : dir_(dir),
      target_(std::move(target)),
      temp_(std::move(temp)),
      temp_path_(join(dir->path(), temp_)),
      fd_(fd),
      durable_(durable) {}

Result<DirTemp> DirTemp::create(const Dir& dir, std::string_view target, std::string_view temp,
                                const FileOptions& options) {
  if (!is_path_component(target)) return bad_component(dir.path(), target);
  if (!is_path_component(temp) || temp == target) return bad_component(dir.path(), temp);
  const std::string name(temp);
  // A crashed writer's leftover (or anything else under the name) goes first:
  // unlinkat removes a symlink itself, and O_EXCL never opens what is there.
  if (::unlinkat(dir.fd(), name.c_str(), 0) != 0 && errno != ENOENT) {
    return io_error(join(dir.path(), name), "cannot remove leftover temp file", errno);
  }
  int fd = ::openat(dir.fd(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return io_error(join(dir.path(), std::string(target)), "cannot create temp file", errno);
  DirTemp tmp(&dir, std::string(target), name, fd, options.durable);
  if (::fchmod(fd, options.mode) != 0) return io_error(tmp.temp_path_, "cannot set mode", errno);
  if ((options.owner || options.group) && geteuid() == 0 &&
      ::fchown(fd, options.owner.value_or(static_cast<uid_t>(-1)), options.group.value_or(static_cast<gid_t>(-1))) !=
          0) {
    return io_error(tmp.temp_path_, "cannot set owner", errno);
  }
  return tmp;
}

DirTemp::DirTemp(DirTemp&& other) noexcept
    : dir_(other.dir_),
      target_(std::move(other.target_)),
      temp_(std::move(other.temp_)),
      temp_path_(std::move(other.temp_path_)),
      fd_(other.fd_),
      durable_(other.durable_),
      committed_(other.committed_) {
  other.fd_ = -1;
  other.committed_ = true;
}

DirTemp::~DirTemp() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_.empty()) ::unlinkat(dir_->fd(), temp_.c_str(), 0);
}

Status DirTemp::write(std::string_view content) {
  if (int err = write_all(fd_, content, temp_path_); err != 0) return io_error(temp_path_, "cannot write", err);
  return Status::Ok();
}

Status DirTemp::finish() {
  if (fd_ < 0) return Status::Ok();
  if (int err = injected_error(temp_path_); err != 0) return io_error(temp_path_, "cannot sync", err);
  if (durable_ && ::fsync(fd_) != 0) return io_error(temp_path_, "cannot sync", errno);
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return io_error(temp_path_, "cannot close", errno);
  return Status::Ok();
}

Status DirTemp::commit() {
  if (Status s = finish(); !s.ok()) return s;
  if (Status s = dir_->rename_to(temp_, *dir_, target_, true); !s.ok()) return s;
  committed_ = true;
  return Status::Ok();
}

}  // namespace vmail
