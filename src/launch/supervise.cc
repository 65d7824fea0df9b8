#include "launch/supervise.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>

#include "core/process.h"

namespace vmail {

using Clock = std::chrono::steady_clock;

// One running (or waiting to restart) daemon.
struct Supervisor::Daemon {
  DaemonSpec spec;
  pid_t pid = 0;  // 0: not running
  Clock::time_point started;
  std::optional<Clock::time_point> restart_at;
  std::chrono::milliseconds backoff{0};
  std::deque<Clock::time_point> deaths;
};

// One pipe a daemon (and its children) write log lines into. It may outlive
// the daemon that opened it: grandchildren keep writing until they exit.
struct Supervisor::Stream {
  int fd = -1;
  int out = STDOUT_FILENO;  // where its lines go
  std::string name;
  std::string partial;
};

namespace {

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  return set;
}

void write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // our own output is gone: nothing sensible to do
    done += static_cast<size_t>(n);
  }
}

std::string find_program(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  std::string path = kSafePath;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    std::string candidate = path.substr(start, end - start) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return "";
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  return "stopped";
}

}  // namespace

void block_supervisor_signals() {
  sigset_t set = handled_signals();
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

Supervisor::Supervisor(std::vector<DaemonSpec> daemons, std::function<Status()> reconfigure, SupervisorOptions options)
    : specs_(std::move(daemons)), reconfigure_(std::move(reconfigure)), options_(std::move(options)) {}

int Supervisor::run() {
  block_supervisor_signals();
  sigset_t set = handled_signals();
  int sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) {
    spdlog::error("signalfd: {}", std::strerror(errno));
    return static_cast<int>(Code::kInternal);
  }
  // Orphans of our daemons (e.g. Dovecot's children after its master died)
  // become ours to reap even when we are not PID 1.
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  std::vector<Daemon> daemons;
  for (auto& spec : specs_) {
    Daemon d;
    d.spec = spec;
    daemons.push_back(std::move(d));
  }
  std::vector<Stream> streams;

  auto start = [&](Daemon& d) -> bool {
    d.restart_at.reset();
    if (d.spec.before_start) d.spec.before_start();
    std::string program = find_program(d.spec.argv.at(0));
    if (program.empty()) {
      spdlog::error("{}: program {} not found in {}", d.spec.name, d.spec.argv[0], kSafePath);
      return false;
    }
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0) return false;
    if (pipe2(err, O_CLOEXEC) != 0) {
      ::close(out[0]);
      ::close(out[1]);
      return false;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigdefault(&attr, &all);
    // Its own process group: a Ctrl-C on our terminal reaches only us, and
    // we stop the daemons the graceful way.
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    std::vector<char*> argv;
    for (const auto& a : d.spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : options_.environment) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
      ::close(out[0]);
      ::close(err[0]);
      spdlog::error("{}: cannot start {}: {}", d.spec.name, program, std::strerror(rc));
      return false;
    }
    for (int fd : {out[0], err[0]}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    streams.push_back(Stream{out[0], STDOUT_FILENO, d.spec.name, ""});
    streams.push_back(Stream{err[0], STDERR_FILENO, d.spec.name, ""});
    d.pid = pid;
    d.started = Clock::now();
    spdlog::info("{} started (pid {})", d.spec.name, pid);
    return true;
  };

  // Forwards complete lines (or a very long partial one) with the daemon's name.
  auto forward = [](Stream& s, bool flush_partial) {
    size_t pos;
    while ((pos = s.partial.find('\n')) != std::string::npos) {
      write_all(s.out, s.name + ": " + s.partial.substr(0, pos + 1));
      s.partial.erase(0, pos + 1);
    }
    if (!s.partial.empty() && (flush_partial || s.partial.size() > 16384)) {
      write_all(s.out, s.name + ": " + s.partial + "\n");
      s.partial.clear();
    }
  };
  auto drain = [&](Stream& s) {
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
      // End of file: every writer is gone.
      forward(s, true);
      ::close(s.fd);
      s.fd = -1;
      return;
    }
  };

  bool stopping = false;
  int exit_code = 0;
  Clock::time_point stop_deadline;
  bool killed = false;

  auto begin_stop = [&](int code, const std::string& why) {
    if (stopping) return;
    stopping = true;
    exit_code = code;
    stop_deadline = Clock::now() + options_.stop_timeout;
    spdlog::info("stopping ({})", why);
    // Signal-only stops first so they run while the slower ones do.
    for (auto& d : daemons) {
      d.restart_at.reset();
      if (d.pid > 0 && !d.spec.stop) ::kill(d.pid, SIGTERM);
    }
    for (auto& d : daemons) {
      if (d.pid > 0 && d.spec.stop) {
        if (Status s = d.spec.stop(d.pid); !s.ok()) {
          spdlog::warn("{}: graceful stop failed ({}); sending SIGTERM", d.spec.name, s.message());
          ::kill(d.pid, SIGTERM);
        }
      }
    }
  };

  auto reap = [&]() {
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (auto& d : daemons) {
        if (d.pid != pid) continue;
        d.pid = 0;
        // Whatever is left of its process group goes too, so a restart finds
        // the ports and sockets free.
        ::kill(-pid, SIGKILL);
        if (stopping) {
          spdlog::info("{} {}", d.spec.name, describe_exit(status));
          break;
        }
        Clock::time_point now = Clock::now();
        d.deaths.push_back(now);
        while (!d.deaths.empty() && now - d.deaths.front() > options_.death_window) d.deaths.pop_front();
        if (static_cast<int>(d.deaths.size()) >= options_.max_deaths) {
          spdlog::error("{} {}; it died {} times within {} s, giving up", d.spec.name, describe_exit(status),
                        d.deaths.size(), options_.death_window.count());
          begin_stop(static_cast<int>(Code::kInternal), d.spec.name + " keeps dying");
          break;
        }
        // A daemon that ran a good while starts again from the shortest back-off.
        if (now - d.started > options_.death_window || d.backoff.count() == 0) {
          d.backoff = options_.first_backoff;
        } else {
          d.backoff = std::min(d.backoff * 2, options_.max_backoff);
        }
        d.restart_at = now + d.backoff;
        spdlog::warn("{} {}; restarting in {} ms", d.spec.name, describe_exit(status), d.backoff.count());
        break;
      }
    }
  };

  auto reload = [&]() {
    spdlog::info("SIGHUP: reconfiguring");
    if (reconfigure_) {
      if (Status s = reconfigure_(); !s.ok()) {
        spdlog::error("reconfiguration failed, daemons keep their configuration: {}", s.message());
        return;
      }
    }
    for (auto& d : daemons) {
      if (d.pid <= 0) continue;
      if (d.spec.reload) {
        if (Status s = d.spec.reload(d.pid); !s.ok()) spdlog::error("{}: reload failed: {}", d.spec.name, s.message());
      } else {
        ::kill(d.pid, SIGHUP);
      }
    }
    spdlog::info("reloaded");
  };

  for (auto& d : daemons) {
    if (!start(d)) {
      begin_stop(static_cast<int>(Code::kConfig), d.spec.name + " could not start");
      break;
    }
  }

  while (true) {
    bool any_running = std::any_of(daemons.begin(), daemons.end(), [](const Daemon& d) { return d.pid > 0; });
    if (stopping && !any_running) break;

    Clock::time_point now = Clock::now();
    if (stopping && !killed && now >= stop_deadline) {
      spdlog::warn("daemons did not stop within {} s; killing them", options_.stop_timeout.count());
      for (auto& d : daemons) {
        if (d.pid > 0) {
          ::kill(-d.pid, SIGKILL);
          ::kill(d.pid, SIGKILL);
        }
      }
      killed = true;
    }
    if (!stopping) {
      for (auto& d : daemons) {
        if (d.pid == 0 && d.restart_at && now >= *d.restart_at && !start(d)) {
          d.restart_at = now + options_.max_backoff;
        }
      }
    }

    // Sleep until a signal, a log line, a due restart or the stop deadline.
    Clock::time_point wake = now + std::chrono::seconds(60);
    for (const auto& d : daemons) {
      if (d.restart_at) wake = std::min(wake, *d.restart_at);
    }
    if (stopping && !killed) wake = std::min(wake, stop_deadline);
    int timeout = static_cast<int>(
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count() + 1));

    std::vector<pollfd> fds = {{sigfd, POLLIN, 0}};
    for (const auto& s : streams) fds.push_back({s.fd, POLLIN, 0});
    int n = poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) {
      spdlog::error("poll: {}", std::strerror(errno));
      begin_stop(static_cast<int>(Code::kInternal), "poll failed");
      continue;
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents != 0) drain(streams[i - 1]);
    }
    streams.erase(std::remove_if(streams.begin(), streams.end(), [](const Stream& s) { return s.fd < 0; }),
                  streams.end());
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info;
      while (::read(sigfd, &info, sizeof info) == sizeof info) {
        switch (info.ssi_signo) {
          case SIGCHLD: reap(); break;
          case SIGTERM: begin_stop(0, "SIGTERM"); break;
          case SIGINT: begin_stop(0, "SIGINT"); break;
          case SIGQUIT: begin_stop(0, "SIGQUIT"); break;
          case SIGHUP:
            if (!stopping) reload();
            break;
          default: break;
        }
      }
      // A graceful stop may have reaped nothing yet; catch children that
      // exited while we ran helpers.
      reap();
    }
  }

  // Forward what the daemons' last words were, then reap stragglers.
  for (auto& s : streams) {
    if (s.fd >= 0) {
      drain(s);
      if (s.fd >= 0) {
        forward(s, true);
        ::close(s.fd);
      }
    }
  }
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  ::close(sigfd);
  spdlog::info("stopped");
  return exit_code;
}

}  // namespace vmail
