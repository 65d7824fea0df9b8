// Supervision of the mail daemons, as PID 1 of a container would do it
// (Postfix's master.c is the model): reap every child, restart a daemon that
// dies with a back-off, give up when one keeps dying, stop gracefully on
// SIGTERM/SIGINT and reconfigure + reload on SIGHUP. Each daemon's stdout and
// stderr lines reach ours, prefixed with the daemon's name.
//
// One Supervisor per process (it owns the signal mask); run() blocks.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace vmail {

struct DaemonSpec {
  std::string name;               // prefix of its log lines, e.g. "postfix"
  std::vector<std::string> argv;  // runs in the foreground; argv[0] looked up in a fixed PATH
  // Graceful stop; when empty the daemon gets SIGTERM.
  std::function<Status(pid_t pid)> stop;
  // Reload after a reconfiguration; when empty the daemon gets SIGHUP.
  std::function<Status(pid_t pid)> reload;
  // Runs before each start (e.g. to wait for a dependency); failure is logged only.
  std::function<void()> before_start;
};

struct SupervisorOptions {
  std::chrono::milliseconds first_backoff{1000};
  std::chrono::milliseconds max_backoff{30000};
  int max_deaths = 5;  // deaths of one daemon within death_window: give up
  std::chrono::seconds death_window{60};
  std::chrono::seconds stop_timeout{25};  // then SIGKILL what is left
  std::vector<std::string> environment;   // the daemons' whole environment
};

class Supervisor {
 public:
  // `reconfigure` runs on SIGHUP before the daemons reload; when it fails the
  // daemons keep their current configuration.
  Supervisor(std::vector<DaemonSpec> daemons, std::function<Status()> reconfigure, SupervisorOptions options);

  // Starts the daemons in order and supervises them. Returns 0 after a
  // SIGTERM/SIGINT stop, 70 when a daemon kept dying (after stopping the
  // others), or the code of a Status that prevented the start.
  int run();

 private:
  struct Daemon;
  struct Stream;
  std::vector<DaemonSpec> specs_;
  std::function<Status()> reconfigure_;
  SupervisorOptions options_;
};

// Blocks the signals the supervisor handles (SIGCHLD, SIGTERM, SIGINT,
// SIGHUP, SIGQUIT) so none is lost between now and run(); call early.
void block_supervisor_signals();

}  // namespace vmail
