#include "launch/supervise.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/process.h"

namespace vmail {
namespace {

using std::chrono::milliseconds;

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  return set;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  return "stopped";
}

std::string errno_text(int err) { return std::strerror(err); }

// posix_spawn, kill and waitpid.
class ProcessSpawner final : public Spawner {
 public:
  Result<SpawnedChild> spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) override;
  void signal(pid_t pid, int sig) override { ::kill(pid, sig); }
  std::optional<std::pair<pid_t, int>> reap() override {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return std::nullopt;
    return std::make_pair(pid, status);
  }
};

Result<SpawnedChild> ProcessSpawner::spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Status(Code::kInternal, "pipe: " + errno_text(errno));
  if (pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(out[0]);
    ::close(out[1]);
    return Status(Code::kInternal, "pipe: " + errno_text(e));
  }
  auto pid = spawn_program(argv, env, SpawnOptions{-1, out[1], err[1], true});
  ::close(out[1]);
  ::close(err[1]);
  if (!pid.ok()) {
    ::close(out[0]);
    ::close(err[0]);
    return pid.status();
  }
  return SpawnedChild{*pid, out[0], err[0]};
}

// steady_clock, and a signalfd to wait on.
class SignalClock final : public Clock {
 public:
  explicit SignalClock(int sigfd) : sigfd_(sigfd) {}
  ~SignalClock() override { ::close(sigfd_); }
  time_point now() override { return std::chrono::steady_clock::now(); }
  Result<std::vector<int>> wait(milliseconds timeout) override {
    pollfd fd = {sigfd_, POLLIN, 0};
    int n = ::poll(&fd, 1, static_cast<int>(std::min<int64_t>(timeout.count(), 3600 * 1000)));
    if (n < 0 && errno != EINTR) return Status(Code::kInternal, "poll: " + errno_text(errno));
    std::vector<int> signals;
    signalfd_siginfo info;
    while (::read(sigfd_, &info, sizeof info) == sizeof info) signals.push_back(static_cast<int>(info.ssi_signo));
    return signals;
  }

 private:
  int sigfd_;
};

}  // namespace

void block_supervisor_signals() {
  sigset_t set = handled_signals();
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGHUP: return "SIGHUP";
    case SIGCHLD: return "SIGCHLD";
    default: return "a signal";
  }
}

int pending_stop_signal() {
  sigset_t pending;
  sigemptyset(&pending);
  if (sigpending(&pending) != 0) return 0;
  for (int sig : {SIGTERM, SIGINT, SIGQUIT}) {
    if (sigismember(&pending, sig) == 1) return sig;
  }
  return 0;
}

int supervise(std::vector<DaemonSpec> daemons, std::function<Status()> reconfigure, SupervisorOptions options) {
  block_supervisor_signals();
  sigset_t set = handled_signals();
  int sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) {
    spdlog::error("signalfd: {}", errno_text(errno));
    return static_cast<int>(Code::kInternal);
  }
  // Orphans of our daemons (e.g. Dovecot's children after its master died)
  // become ours to reap even when we are not PID 1.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  SignalClock clock(sigfd);
  ProcessSpawner spawner;
  LogForwarder logs;
  Supervisor supervisor(std::move(daemons), std::move(reconfigure), std::move(options), spawner, clock, logs);
  return supervisor.run();
}

Supervisor::Supervisor(std::vector<DaemonSpec> daemons, std::function<Status()> reconfigure, SupervisorOptions options,
                       Spawner& spawner, Clock& clock, LogForwarder& logs)
    : reconfigure_(std::move(reconfigure)),
      options_(std::move(options)),
      spawner_(spawner),
      clock_(clock),
      logs_(logs) {
  for (auto& spec : daemons)
    daemons_.push_back(
        Daemon{std::move(spec), 0, {}, std::nullopt, milliseconds(0), {}, std::nullopt, 0, std::nullopt, std::nullopt});
}

int Supervisor::run() {
  // A stop asked for before the daemons start (e.g. during the
  // configuration) means nothing starts; a SIGHUP then has nothing to reload.
  if (handle_signals(milliseconds(0))) start_all();
  while (!stopping_ || any_running()) {
    if (stopping_ && !killed_ && clock_.now() >= stop_deadline_) kill_remaining();
    if (!stopping_) restart_due();
    if (!stopping_) watch_due();
    if (!stopping_) after_start_due();
    if (!stopping_) changes_due();
    if (stopping_) stop_wakes_due();
    handle_signals(time_to_next_event());
    // A stop or a reload ran helpers (postfix stop): catch children that
    // exited meanwhile even without a SIGCHLD of their own.
    reap();
  }
  logs_.finish();
  while (spawner_.reap()) {
  }
  spdlog::info("stopped");
  return exit_code_;
}

// Waits up to `timeout` and acts on the signals that arrived. False once a
// stop has begun.
bool Supervisor::handle_signals(milliseconds timeout) {
  auto signals = clock_.wait(timeout);
  if (!signals.ok()) {
    spdlog::error("{}", signals.status().message());
    begin_stop(static_cast<int>(Code::kInternal), "cannot wait for signals");
    return false;
  }
  for (int signo : *signals) {
    if (!started_ && signo == SIGHUP) continue;
    handle(signo);
  }
  return !stopping_;
}

void Supervisor::handle(int signo) {
  switch (signo) {
    case SIGCHLD: reap(); break;
    case SIGTERM:
    case SIGINT:
    case SIGQUIT: begin_stop(0, signal_name(signo)); break;
    case SIGHUP:
      if (!stopping_) reload("SIGHUP");
      break;
    default: break;
  }
}

// Starts the daemons in order; one that cannot start at all is a
// configuration problem (exit 78), not something a restart would fix.
void Supervisor::start_all() {
  started_ = true;
  if (options_.watch && options_.watch_interval.count() > 0) next_watch_ = clock_.now() + options_.watch_interval;
  for (auto& d : daemons_) {
    if (!spawn(d)) {
      begin_stop(static_cast<int>(Code::kConfig), d.spec.name + " could not start");
      return;
    }
  }
}

bool Supervisor::spawn(Daemon& d) {
  d.restart_at.reset();
  if (d.spec.before_start) d.spec.before_start();
  d.started = clock_.now();
  std::vector<std::string> env = options_.environment;
  env.insert(env.end(), d.spec.environment.begin(), d.spec.environment.end());
  auto child = spawner_.spawn(d.spec.argv, env);
  if (!child.ok()) {
    spdlog::error("{} not started: {}", d.spec.name, child.status().message());
    return false;
  }
  logs_.add(child->out_fd, STDOUT_FILENO, d.spec.name);
  logs_.add(child->err_fd, STDERR_FILENO, d.spec.name);
  d.pid = child->pid;
  spdlog::info("{} started (pid {})", d.spec.name, d.pid);
  if (d.spec.after_start) {
    d.after_start_at = clock_.now() + std::chrono::seconds(1);
    d.after_start_tries = 0;
  }
  if (d.spec.changed) d.check_at = clock_.now() + std::chrono::seconds(1);
  return true;
}

// Restarts the daemons whose back-off is over. A restart that fails counts
// like a death, so a daemon that cannot start any more makes us give up
// instead of retrying forever.
void Supervisor::restart_due() {
  Clock::time_point now = clock_.now();
  for (auto& d : daemons_) {
    if (d.pid != 0 || !d.restart_at || now < *d.restart_at) continue;
    if (!spawn(d) && record_death(d, "could not start")) back_off(d, "could not start");
    if (stopping_) return;
  }
}

void Supervisor::reap() {
  while (auto exited = spawner_.reap()) {
    auto [pid, status] = *exited;
    for (auto& d : daemons_) {
      if (d.pid == pid) {
        on_exit(d, status);
        break;
      }
    }
  }
}

void Supervisor::on_exit(Daemon& d, int status) {
  pid_t pid = d.pid;
  d.pid = 0;
  d.after_start_at.reset();
  // Whatever is left of its process group goes too, so a restart finds the
  // ports and sockets free.
  spawner_.signal(-pid, SIGKILL);
  std::string what = describe_exit(status);
  if (stopping_) {
    spdlog::info("{} {}", d.spec.name, what);
    return;
  }
  if (record_death(d, what)) back_off(d, what);
}

// Counts a death (or failed restart) in the window; gives up, stopping the
// others, at options_.max_deaths. False when it gave up.
bool Supervisor::record_death(Daemon& d, const std::string& what) {
  Clock::time_point now = clock_.now();
  d.deaths.push_back(now);
  while (!d.deaths.empty() && now - d.deaths.front() > options_.death_window) d.deaths.pop_front();
  if (static_cast<int>(d.deaths.size()) < options_.max_deaths) return true;
  spdlog::error("{} {}; it died {} times within {} s, giving up", d.spec.name, what, d.deaths.size(),
                options_.death_window.count());
  begin_stop(static_cast<int>(Code::kInternal), d.spec.name + " keeps dying");
  return false;
}

// Schedules the restart: the back-off doubles up to max_backoff, and starts
// again from first_backoff for a daemon that ran a good while.
void Supervisor::back_off(Daemon& d, const std::string& what) {
  Clock::time_point now = clock_.now();
  if (now - d.started > options_.death_window || d.backoff.count() == 0) {
    d.backoff = options_.first_backoff;
  } else {
    d.backoff = std::min(d.backoff * 2, options_.max_backoff);
  }
  d.restart_at = now + d.backoff;
  spdlog::warn("{} {}; restarting in {} ms", d.spec.name, what, d.backoff.count());
}

void Supervisor::begin_stop(int code, const std::string& why) {
  if (stopping_) return;
  stopping_ = true;
  exit_code_ = code;
  stop_deadline_ = clock_.now() + options_.stop_timeout;
  spdlog::info("stopping ({})", why);
  // Signal-only stops first so they run while the slower ones do.
  for (auto& d : daemons_) {
    d.restart_at.reset();
    if (d.pid > 0 && !d.spec.stop) spawner_.signal(d.pid, SIGTERM);
  }
  for (auto& d : daemons_) {
    if (d.pid <= 0 || !d.spec.stop) continue;
    if (Status s = d.spec.stop(d.pid); !s.ok()) {
      spdlog::warn("{}: graceful stop failed ({}); sending SIGTERM", d.spec.name, s.message());
      spawner_.signal(d.pid, SIGTERM);
    }
  }
  for (auto& d : daemons_) {
    if (d.pid > 0 && d.spec.wake_to_stop) d.wake_at = clock_.now();
  }
  stop_wakes_due();
}

void Supervisor::stop_wakes_due() {
  Clock::time_point now = clock_.now();
  for (auto& d : daemons_) {
    if (d.pid <= 0 || !d.wake_at || now < *d.wake_at) continue;
    d.wake_at = now + kStopWakeInterval;
    spdlog::debug("{}: woken to see the stop", d.spec.name);
    d.spec.wake_to_stop();
  }
}

void Supervisor::kill_remaining() {
  spdlog::warn("daemons did not stop within {} s; killing them", options_.stop_timeout.count());
  for (auto& d : daemons_) {
    if (d.pid <= 0) continue;
    spawner_.signal(-d.pid, SIGKILL);
    spawner_.signal(d.pid, SIGKILL);
  }
  killed_ = true;
}

// A daemon waiting out its back-off is not reloaded: it reads the new
// configuration when it starts.
void Supervisor::watch_due() {
  if (!next_watch_ || clock_.now() < *next_watch_) return;
  next_watch_ = clock_.now() + options_.watch_interval;
  if (auto why = options_.watch()) reload(*why);
}

void Supervisor::after_start_due() {
  Clock::time_point now = clock_.now();
  for (auto& d : daemons_) {
    if (d.pid <= 0 || !d.after_start_at || now < *d.after_start_at) continue;
    if (d.spec.after_start()) {
      d.after_start_at.reset();
    } else if (++d.after_start_tries >= kAfterStartTries) {
      spdlog::warn("{}: its after-start step failed {} times; giving it up", d.spec.name, d.after_start_tries);
      d.after_start_at.reset();
    } else {
      d.after_start_at = now + std::chrono::seconds(1);
    }
  }
}

void Supervisor::changes_due() {
  Clock::time_point now = clock_.now();
  for (auto& d : daemons_) {
    if (d.pid <= 0 || !d.check_at || now < *d.check_at) continue;
    d.check_at = now + std::chrono::seconds(1);
    if (auto why = d.spec.changed()) {
      spdlog::info("{}: {}; reloading it", d.spec.name, *why);
      reload_one(d);
    }
  }
}

void Supervisor::reload_one(Daemon& d) {
  if (!d.spec.reload) {
    spawner_.signal(d.pid, SIGHUP);
  } else if (Status s = d.spec.reload(d.pid); !s.ok()) {
    spdlog::error("{}: reload failed: {}", d.spec.name, s.message());
  }
}

void Supervisor::reload(const std::string& why) {
  spdlog::info("{}: reconfiguring", why);
  if (reconfigure_) {
    if (Status s = reconfigure_(); !s.ok()) {
      spdlog::error("reconfiguration failed, daemons keep their configuration: {}", s.message());
      return;
    }
  }
  for (auto& d : daemons_) {
    if (d.pid > 0) reload_one(d);
  }
  spdlog::info("reloaded");
}

// Until a due restart or the stop deadline; at most a minute.
milliseconds Supervisor::time_to_next_event() {
  Clock::time_point now = clock_.now();
  Clock::time_point wake = now + std::chrono::seconds(60);
  for (const auto& d : daemons_) {
    if (d.restart_at) wake = std::min(wake, *d.restart_at);
    if (d.after_start_at && !stopping_) wake = std::min(wake, *d.after_start_at);
    if (d.check_at && d.pid > 0 && !stopping_) wake = std::min(wake, *d.check_at);
    if (d.wake_at && d.pid > 0 && stopping_) wake = std::min(wake, *d.wake_at);
  }
  if (stopping_ && !killed_) wake = std::min(wake, stop_deadline_);
  if (!stopping_ && next_watch_) wake = std::min(wake, *next_watch_);
  // Rounded up: waking a little late is harmless, early would spin.
  return std::max(milliseconds(0), std::chrono::ceil<milliseconds>(wake - now));
}

bool Supervisor::any_running() const {
  return std::any_of(daemons_.begin(), daemons_.end(), [](const Daemon& d) { return d.pid > 0; });
}

}  // namespace vmail
