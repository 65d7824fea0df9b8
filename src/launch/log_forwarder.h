// Forwards the lines daemons write into their log pipes to our own output,
// each prefixed with the daemon's name. It runs on a thread of its own so
// the lines keep flowing (and the daemons never block on a full pipe) while
// the supervisor is busy: reconfiguring on SIGHUP, running `postfix stop`.
#pragma once

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace vmail {

class LogForwarder {
 public:
  // Starts the forwarding thread; call after the signals are blocked so the
  // thread inherits the mask. Aborts (std::system_error) only when no thread
  // or eventfd can be made at all.
  LogForwarder();
  ~LogForwarder();  // finish()
  LogForwarder(const LogForwarder&) = delete;
  LogForwarder& operator=(const LogForwarder&) = delete;

  // Takes ownership of `fd` (a pipe's read end; -1 is ignored): its lines go
  // to `out` as "name: line". A pipe may outlive the process that opened it:
  // grandchildren keep writing until they exit. Thread-safe.
  void add(int fd, int out, const std::string& name);

  // Forwards what is readable now, flushes partial lines, closes every pipe
  // and ends the thread. Idempotent; call from the thread that made it.
  void finish();

 private:
  struct Stream {
    int fd = -1;
    int out = -1;
    std::string name;
    std::string partial;
  };
  void loop();
  static void forward(Stream& s, bool flush_partial);
  static void drain(Stream& s);
  void take_new_streams();

  int wake_fd_ = -1;  // eventfd: a new stream, or finish()
  std::mutex mutex_;
  std::vector<Stream> incoming_;  // guarded by mutex_
  bool finishing_ = false;        // guarded by mutex_
  std::vector<Stream> streams_;   // the thread's own
  std::thread thread_;
};

}  // namespace vmail
