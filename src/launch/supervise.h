// Supervision of the mail daemons, as PID 1 of a container would do it
// (Postfix's master.c is the model): reap every child, restart a daemon that
// dies with a back-off, give up when one keeps dying, stop gracefully on
// SIGTERM/SIGINT and reconfigure + reload on SIGHUP. Each daemon's stdout and
// stderr lines reach ours, prefixed with the daemon's name.
//
// The Supervisor's logic sees processes only through a Spawner and time and
// signals only through a Clock, so tests drive it with fakes (no daemon runs,
// no time passes); supervise() wires in the real ones.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "launch/log_forwarder.h"

namespace vmail {

// Built with designated initialisers: every member has a default, so a spec
// names only what it sets (DaemonSpec{.name = ..., .argv = ...}).
struct DaemonSpec {
  std::string name = {};               // prefix of its log lines, e.g. "postfix"
  std::vector<std::string> argv = {};  // runs in the foreground; argv[0] looked up in kSafePath
  // Graceful stop; when empty the daemon gets SIGTERM.
  std::function<Status(pid_t pid)> stop = {};
  // Reload after a reconfiguration; when empty the daemon gets SIGHUP.
  std::function<Status(pid_t pid)> reload = {};
  // Runs before each start (e.g. to wait for a dependency); failure is logged only.
  std::function<void()> before_start = {};
  // Runs on the supervisor's loop a second after each start, then every
  // second until it returns true, at most kAfterStartTries times (Postfix:
  // retry at once the mail deferred before the restart). Not while stopping.
  std::function<bool()> after_start = {};
  // Checked on the supervisor's loop every second while the daemon runs
  // (OpenDKIM: its key and signing tables). When it returns a reason, this
  // daemon alone is reloaded (`reload`, else SIGHUP) and the reason logged.
  // Must be cheap: a stat, not a read. Not while stopping.
  std::function<std::optional<std::string>()> changed = {};
  // Added to SupervisorOptions::environment for this daemon alone (OpenDKIM:
  // LD_PRELOAD of the library that turns its syslog(3) into stderr lines).
  std::vector<std::string> environment = {};
  // Runs right after the stop signal (or `stop`) and then every
  // kStopWakeInterval while the daemon has not exited. libmilter daemons
  // (OpenDKIM, vmail-milter) look for a stop only when their listener's
  // select() returns, which it does every 5 s: a connection to the socket
  // wakes it at once. Repeated, since a wake before the daemon has read
  // the signal is spent.
  std::function<void()> wake_to_stop = {};
};

inline constexpr int kAfterStartTries = 30;
inline constexpr std::chrono::milliseconds kStopWakeInterval{100};

struct SupervisorOptions {
  std::chrono::milliseconds first_backoff{1000};
  std::chrono::milliseconds max_backoff{30000};
  int max_deaths = 5;  // deaths (or failed restarts) of one daemon within death_window: give up
  std::chrono::seconds death_window{60};
  std::chrono::seconds stop_timeout{25};  // then SIGKILL what is left
  std::vector<std::string> environment;   // the daemons' whole environment
  // A periodic check while the daemons run (the launcher's: certificates
  // renewed at their source paths). Every watch_interval (0: never) `watch`
  // runs; when it returns a reason, the supervisor reconfigures and reloads
  // exactly as on SIGHUP, and logs the reason.
  std::chrono::milliseconds watch_interval{0};
  std::function<std::optional<std::string>()> watch;
};

// A started child: its pid and the read ends of its stdout and stderr pipes
// (-1 when it has none), which the caller then owns.
struct SpawnedChild {
  pid_t pid = 0;
  int out_fd = -1;
  int err_fd = -1;
};

// How the supervisor starts, signals and reaps processes. Used from one thread.
class Spawner {
 public:
  virtual ~Spawner() = default;
  // Starts `argv` with `env` as its whole environment, standard input
  // /dev/null, stdout and stderr into fresh pipes, in a process group of its
  // own, with default signal dispositions and an empty signal mask. An error
  // Status naming the program when it cannot be started.
  virtual Result<SpawnedChild> spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) = 0;
  // Sends `sig` to `pid` (a negative pid: that process group). Errors are
  // ignored: the process may be gone already.
  virtual void signal(pid_t pid, int sig) = 0;
  // One exited child (any, including adopted orphans) and its wait status,
  // without blocking; nullopt when none is waiting.
  virtual std::optional<std::pair<pid_t, int>> reap() = 0;
};

// Time, and waiting for it to pass. A wait ends early when one of the
// signals the supervisor handles (SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT)
// arrives. Used from one thread.
class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() = 0;
  // Waits up to `timeout` (0: just looks) and returns the signals that
  // arrived, in order; an error Status when waiting itself failed.
  virtual Result<std::vector<int>> wait(std::chrono::milliseconds timeout) = 0;
};

class Supervisor {
 public:
  // `reconfigure` runs on SIGHUP before the daemons reload; when it fails the
  // daemons keep their current configuration. `spawner` and `clock` must
  // outlive the Supervisor. Daemon log pipes go to `logs`.
  Supervisor(std::vector<DaemonSpec> daemons, std::function<Status()> reconfigure, SupervisorOptions options,
             Spawner& spawner, Clock& clock, LogForwarder& logs);

  // Starts the daemons in order and supervises them until they are stopped.
  // Returns 0 after a SIGTERM/SIGINT/SIGQUIT stop (also one that arrived
  // before the start: then nothing starts), 70 when a daemon kept dying or
  // failing to start (after stopping the others), 78 when a daemon could not
  // start at all. Call once.
  int run();

 private:
  struct Daemon {
    DaemonSpec spec;
    pid_t pid = 0;              // 0: not running
    Clock::time_point started;  // of the last attempt to start
    std::optional<Clock::time_point> restart_at;
    std::chrono::milliseconds backoff{0};
    std::deque<Clock::time_point> deaths;             // and failed restarts, within the window
    std::optional<Clock::time_point> after_start_at;  // next try of spec.after_start
    int after_start_tries = 0;
    std::optional<Clock::time_point> check_at;  // next call of spec.changed
    std::optional<Clock::time_point> wake_at;   // next call of spec.wake_to_stop
  };

  bool spawn(Daemon& d);
  void start_all();
  void restart_due();
  void reap();
  void on_exit(Daemon& d, int status);
  bool record_death(Daemon& d, const std::string& what);
  void back_off(Daemon& d, const std::string& what);
  void begin_stop(int code, const std::string& why);
  void kill_remaining();
  void reload(const std::string& why);
  void watch_due();
  void after_start_due();
  void changes_due();
  void stop_wakes_due();
  void reload_one(Daemon& d);
  void handle(int signo);
  bool handle_signals(std::chrono::milliseconds timeout);
  std::chrono::milliseconds time_to_next_event();
  bool any_running() const;

  std::vector<Daemon> daemons_;
  std::function<Status()> reconfigure_;
  SupervisorOptions options_;
  Spawner& spawner_;
  Clock& clock_;
  LogForwarder& logs_;
  bool started_ = false;  // start_all() ran
  bool stopping_ = false;
  bool killed_ = false;
  int exit_code_ = 0;
  Clock::time_point stop_deadline_;
  std::optional<Clock::time_point> next_watch_;
};

// Blocks the signals the supervisor handles (SIGCHLD, SIGTERM, SIGINT,
// SIGHUP, SIGQUIT) so none is lost or kills us before supervise() reads
// them, and ignores SIGPIPE. Call first thing in main, before any thread.
void block_supervisor_signals();

// "SIGTERM" and the like, for log lines.
const char* signal_name(int sig);

// The stop signal (SIGTERM, SIGINT or SIGQUIT) pending since
// block_supervisor_signals(), or 0. It stays pending.
int pending_stop_signal();

// Runs a Supervisor with the real process spawner, a steady clock waiting on
// a signalfd, and log lines to our stdout/stderr; makes this process the
// subreaper of the daemons' orphans. Returns run()'s exit code, or 70 when
// the signals cannot be read.
int supervise(std::vector<DaemonSpec> daemons, std::function<Status()> reconfigure, SupervisorOptions options);

}  // namespace vmail
