#include "launch/log_forwarder.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace vmail {
namespace {

// A long line without an end is forwarded in pieces of this size.
constexpr size_t kMaxPartial = 16384;

void write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // our own output is gone: nothing sensible to do
    done += static_cast<size_t>(n);
  }
}

}  // namespace

LogForwarder::LogForwarder() {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  thread_ = std::thread([this] { loop(); });
}

LogForwarder::~LogForwarder() { finish(); }

void LogForwarder::add(int fd, int out, const std::string& name) {
  if (fd < 0) return;
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  {
    std::lock_guard lock(mutex_);
    incoming_.push_back(Stream{fd, out, name, ""});
  }
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void LogForwarder::finish() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    finishing_ = true;
  }
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  thread_.join();
  ::close(wake_fd_);
  wake_fd_ = -1;
}

void LogForwarder::take_new_streams() {
  uint64_t count;
  (void)!::read(wake_fd_, &count, sizeof count);
  std::lock_guard lock(mutex_);
  for (auto& s : incoming_) streams_.push_back(std::move(s));
  incoming_.clear();
}

void LogForwarder::loop() {
  while (true) {
    std::vector<pollfd> fds = {{wake_fd_, POLLIN, 0}};
    for (const auto& s : streams_) fds.push_back({s.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) break;
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents != 0) drain(streams_[i - 1]);
    }
    std::erase_if(streams_, [](const Stream& s) { return s.fd < 0; });
    if (fds[0].revents != 0) {
      take_new_streams();
      std::lock_guard lock(mutex_);
      if (finishing_) break;
    }
  }
  // The daemons' last words: what is readable now, partial lines included.
  take_new_streams();
  for (auto& s : streams_) {
    drain(s);
    if (s.fd >= 0) {
      forward(s, true);
      ::close(s.fd);
    }
  }
  streams_.clear();
}

// Forwards complete lines (or a very long partial one) with the daemon's name.
void LogForwarder::forward(Stream& s, bool flush_partial) {
  size_t pos;
  while ((pos = s.partial.find('\n')) != std::string::npos) {
    write_all(s.out, s.name + ": " + s.partial.substr(0, pos + 1));
    s.partial.erase(0, pos + 1);
  }
  if (!s.partial.empty() && (flush_partial || s.partial.size() > kMaxPartial)) {
    write_all(s.out, s.name + ": " + s.partial + "\n");
    s.partial.clear();
  }
}

// Reads until the pipe is empty; at end of file (every writer gone) forwards
// the rest and closes it.
void LogForwarder::drain(Stream& s) {
  char buf[8192];
  while (true) {
    ssize_t n = ::read(s.fd, buf, sizeof buf);
    if (n > 0) {
      s.partial.append(buf, static_cast<size_t>(n));
      forward(s, false);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    forward(s, true);
    ::close(s.fd);
    s.fd = -1;
    return;
  }
}

}  // namespace vmail
