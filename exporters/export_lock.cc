#include "exporters/export_lock.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace vmail {
namespace {

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

}  // namespace

Result<ExportLock> ExportLock::acquire(const std::string& db_path) {
  auto timeout = lock_timeout();
  if (!timeout.ok()) return timeout.status();
  return acquire(db_path, *timeout);
}

Result<ExportLock> ExportLock::acquire(const std::string& db_path, std::chrono::milliseconds timeout) {
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

ExportLock::~ExportLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace vmail
