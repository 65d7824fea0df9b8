// The supervisor's logic without daemons: a fake Spawner (pids are numbers,
// nothing runs) and a fake Clock (time moves only when the supervisor waits;
// signals and deaths arrive when the script says).
#include "launch/supervise.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <set>

namespace vmail {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

int exit_status(int code) { return code << 8; }  // as waitpid reports exit(code)
int killed_by(int sig) { return sig; }           // as waitpid reports a death by `sig`

class FakeSystem final : public Spawner, public Clock {
 public:
  // Spawner ---------------------------------------------------------------
  Result<SpawnedChild> spawn(const std::vector<std::string>& argv, const std::vector<std::string>&) override {
    const std::string& name = argv.at(0);
    attempts[name].push_back(since_start());
    if (failing.count(name)) return Status(Code::kConfig, name + ": cannot start: No such file or directory");
    pid_t pid = next_pid++;
    running[pid] = name;
    pids[name] = pid;
    all_pids.emplace_back(name, pid);
    if (auto life = lifetime.find(name); life != lifetime.end()) {
      at(since_start() + life->second, [this, pid] { die(pid, killed_by(SIGKILL)); });
    }
    return SpawnedChild{pid, -1, -1};
  }
  void signal(pid_t pid, int sig) override {
    sent.emplace_back(pid, sig);
    // A daemon in `stubborn` ignores SIGTERM; every one dies of SIGKILL.
    if (pid > 0 && running.count(pid) && (sig == SIGKILL || (sig == SIGTERM && !stubborn.count(running[pid])))) {
      die(pid, killed_by(sig));
    }
  }
  std::optional<std::pair<pid_t, int>> reap() override {
    if (exited.empty()) return std::nullopt;
    auto e = exited.front();
    exited.erase(exited.begin());
    return e;
  }

  // Clock -------------------------------------------------------------------
  time_point now() override { return t; }
  Result<std::vector<int>> wait(milliseconds timeout) override {
    if (++waits > 100000) std::abort();  // the supervisor never stops: a bug
    if (fail_from && t >= *fail_from) return Status(Code::kInternal, "poll: Bad file descriptor");
    if (!exited.empty()) return std::vector<int>{SIGCHLD};
    time_point until = t + timeout;
    if (script.empty() || script.begin()->first > until) {
      t = until;
      return std::vector<int>{};
    }
    auto it = script.begin();
    t = std::max(t, it->first);
    auto event = std::move(it->second);
    script.erase(it);
    return event();
  }

  // Script -----------------------------------------------------------------
  // At `when` after the start: `event` happens; it returns the signals it sends us.
  void at(milliseconds when, std::function<std::vector<int>()> event) {
    script.emplace(start + when, std::move(event));
  }
  void at(milliseconds when, std::function<void()> event) {
    at(when, std::function<std::vector<int>()>([event] {
         event();
         return std::vector<int>{};
       }));
  }
  void signal_at(milliseconds when, int sig) {
    at(when, std::function<std::vector<int>()>([sig] { return std::vector<int>{sig}; }));
  }
  // The running `name` dies at `when` (of SIGKILL).
  void kill_at(milliseconds when, const std::string& name) {
    at(when, std::function<void()>([this, name] {
         if (pids.count(name) && running.count(pids[name])) die(pids[name], killed_by(SIGKILL));
       }));
  }
  // The running `name` exits with status 0 at `when` (e.g. after a slow stop).
  void exit_at(milliseconds when, const std::string& name) {
    at(when, std::function<void()>([this, name] { die(pids.at(name), exit_status(0)); }));
  }
  void die(pid_t pid, int status) {
    running.erase(pid);
    exited.emplace_back(pid, status);
  }
  milliseconds since_start() const { return std::chrono::duration_cast<milliseconds>(t - start); }
  bool signalled(const std::string& name, int sig) const {
    for (const auto& [pid, s] : sent) {
      if (s == sig && names_of(pid, name)) return true;
    }
    return false;
  }
  bool names_of(pid_t pid, const std::string& name) const {
    for (const auto& [n, p] : all_pids) {
      if (n == name && p == pid) return true;
    }
    return false;
  }

  time_point start = time_point() + std::chrono::hours(1);
  time_point t = start;
  int waits = 0;
  std::optional<time_point> fail_from;  // waiting fails from then on
  pid_t next_pid = 1000;
  std::map<pid_t, std::string> running;
  std::map<std::string, pid_t> pids;  // the latest of each name
  std::vector<std::pair<std::string, pid_t>> all_pids;
  std::map<std::string, std::vector<milliseconds>> attempts;  // start attempts, since the start
  std::map<std::string, milliseconds> lifetime;               // each run of `name` dies after this
  std::set<std::string> failing;                              // spawning `name` fails
  std::set<std::string> stubborn;                             // ignores SIGTERM
  std::vector<std::pair<pid_t, int>> sent;
  std::vector<std::pair<pid_t, int>> exited;
  std::multimap<time_point, std::function<std::vector<int>()>> script;
};

// Two daemons as the launcher has them: dovecot stops by signal, postfix
// through its stop hook; the hooks are counted.
struct Harness {
  FakeSystem sys;
  LogForwarder logs;
  int postfix_stops = 0;
  int postfix_reloads = 0;
  int reconfigures = 0;
  bool reconfigure_fails = false;
  bool postfix_exits_on_stop = true;
  std::function<bool()> postfix_after_start;
  std::function<std::optional<std::string>()> dovecot_changed;
  SupervisorOptions options;

  int run() {
    std::vector<DaemonSpec> daemons;
    daemons.push_back(DaemonSpec{.name = "dovecot", .argv = {"dovecot", "-F"}, .changed = dovecot_changed});
    daemons.push_back(DaemonSpec{"postfix",
                                 {"postfix", "start-fg"},
                                 [this](pid_t pid) {
                                   ++postfix_stops;
                                   if (postfix_exits_on_stop) sys.die(pid, exit_status(0));
                                   return Status::Ok();
                                 },
                                 [this](pid_t) {
                                   ++postfix_reloads;
                                   return Status::Ok();
                                 },
                                 {},
                                 postfix_after_start,
                                 {},
                                 {},
                                 {}});
    Supervisor supervisor(
        std::move(daemons),
        [this] {
          ++reconfigures;
          return reconfigure_fails ? Status(Code::kConfig, "bad") : Status::Ok();
        },
        options, sys, sys, logs);
    return supervisor.run();
  }
};

std::vector<milliseconds> ms(std::initializer_list<int> values) {
  std::vector<milliseconds> out;
  for (int v : values) out.emplace_back(v);
  return out;
}

TEST(SupervisorTest, StartsInOrderAndStopsOnSigterm) {
  Harness h;
  h.sys.signal_at(seconds(10), SIGTERM);
  EXPECT_EQ(h.run(), 0);
  EXPECT_EQ(h.sys.attempts["dovecot"], ms({0}));
  EXPECT_EQ(h.sys.attempts["postfix"], ms({0}));
  EXPECT_EQ(h.postfix_stops, 1);
  EXPECT_EQ(h.sys.sent.at(0), std::make_pair(pid_t{1000}, SIGTERM));  // dovecot: by signal
  EXPECT_TRUE(h.sys.running.empty());
}

TEST(SupervisorTest, StopSignalBeforeTheStartStartsNothing) {
  for (int sig : {SIGTERM, SIGINT, SIGQUIT}) {
    Harness h;
    h.sys.signal_at(milliseconds(0), sig);
    EXPECT_EQ(h.run(), 0) << sig;
    EXPECT_TRUE(h.sys.attempts.empty()) << sig;
    EXPECT_EQ(h.postfix_stops, 0);
  }
}

TEST(SupervisorTest, SighupBeforeTheStartIsNotAReload) {
  Harness h;
  h.sys.signal_at(milliseconds(0), SIGHUP);
  h.sys.signal_at(seconds(1), SIGTERM);
  EXPECT_EQ(h.run(), 0);
  EXPECT_EQ(h.reconfigures, 0);
  EXPECT_EQ(h.sys.attempts["dovecot"], ms({0}));
}

// Dies 100 ms after every start: restarts after 1, 2, 4, 8 s; the 5th death
// within 60 s gives up, stops postfix too and exits 70.
TEST(SupervisorTest, BacksOffThenGivesUpAfterFiveDeathsInAMinute) {
  Harness h;
  h.sys.lifetime["dovecot"] = milliseconds(100);
  EXPECT_EQ(h.run(), 70);
  EXPECT_EQ(h.sys.attempts["dovecot"], ms({0, 1100, 3200, 7300, 15400}));
  EXPECT_EQ(h.sys.since_start(), milliseconds(15500));
  EXPECT_EQ(h.postfix_stops, 1);
  EXPECT_TRUE(h.sys.running.empty());
}

TEST(SupervisorTest, BackoffIsCappedAndResetsAfterAGoodRun) {
  Harness h;
  h.options.max_deaths = 100;
  h.sys.lifetime["dovecot"] = milliseconds(0);
  h.sys.signal_at(seconds(100), SIGTERM);
  EXPECT_EQ(h.run(), 0);
  EXPECT_EQ(h.sys.attempts["dovecot"], ms({0, 1000, 3000, 7000, 15000, 31000, 61000, 91000}));

  // A daemon that ran longer than the death window starts from 1 s again.
  Harness g;
  g.sys.kill_at(seconds(10), "dovecot");   // back-off 1 s
  g.sys.kill_at(seconds(12), "dovecot");   // ran 1 s: 2 s
  g.sys.kill_at(seconds(200), "dovecot");  // ran long: 1 s again
  g.sys.signal_at(seconds(300), SIGTERM);
  EXPECT_EQ(g.run(), 0);
  EXPECT_EQ(g.sys.attempts["dovecot"], ms({0, 11000, 14000, 201000}));
}

// Regression: a restart that failed (program gone, cannot spawn) was retried
// every 30 s forever and never counted toward giving up.
TEST(SupervisorTest, FailedRestartsCountTowardGivingUp) {
  Harness h;
  h.sys.at(seconds(5), std::function<void()>([&] {
             h.sys.failing.insert("dovecot");
             h.sys.die(h.sys.pids["dovecot"], killed_by(SIGKILL));
           }));
  h.sys.signal_at(seconds(600), SIGTERM);  // not reached when it gives up
  EXPECT_EQ(h.run(), 70);
  // One death, then four failed starts 1, 2, 4 and 8 s apart.
  EXPECT_EQ(h.sys.attempts["dovecot"], ms({0, 6000, 8000, 12000, 20000}));
  EXPECT_EQ(h.postfix_stops, 1);
  EXPECT_TRUE(h.sys.running.empty());
}

TEST(SupervisorTest, DaemonThatCannotStartAtAllIsAConfigurationError) {
  Harness h;
  h.sys.failing.insert("dovecot");
  EXPECT_EQ(h.run(), 78);
  EXPECT_EQ(h.sys.attempts.count("postfix"), 0u);
  EXPECT_EQ(h.sys.attempts["dovecot"].size(), 1u);
}

TEST(SupervisorTest, SigtermDuringBackoffStopsWithoutRestarting) {
  Harness h;
  h.sys.kill_at(seconds(5), "dovecot");
  h.sys.signal_at(milliseconds(5500), SIGTERM);  // restart was due at 6 s
  EXPECT_EQ(h.run(), 0);
  EXPECT_EQ(h.sys.attempts["dovecot"], ms({0}));
  EXPECT_EQ(h.postfix_stops, 1);
  EXPECT_EQ(h.sys.since_start(), milliseconds(5500));
}

// While postfix takes 2 s to stop, more signals change nothing: no second
// stop, no reload, no SIGKILL.
TEST(SupervisorTest, SignalsDuringStopChangeNothing) {
  for (int sig : {SIGTERM, SIGINT, SIGQUIT, SIGHUP}) {
    Harness h;
    h.postfix_exits_on_stop = false;
    h.sys.signal_at(seconds(1), SIGTERM);
    h.sys.signal_at(seconds(2), sig);
    h.sys.signal_at(seconds(2), sig);
    h.sys.exit_at(seconds(3), "postfix");
    EXPECT_EQ(h.run(), 0) << sig;
    EXPECT_EQ(h.postfix_stops, 1) << sig;
    EXPECT_EQ(h.reconfigures, 0) << sig;
    EXPECT_EQ(h.sys.since_start(), seconds(3)) << sig;
    EXPECT_FALSE(h.sys.signalled("postfix", SIGKILL)) << sig;
  }
}

TEST(SupervisorTest, SigtermDuringAGiveUpStopKeepsItsExitCode) {
  Harness h;
  h.postfix_exits_on_stop = false;
  h.sys.lifetime["dovecot"] = milliseconds(100);  // gives up at 15.5 s
  h.sys.signal_at(seconds(16), SIGTERM);
  h.sys.exit_at(seconds(17), "postfix");
  EXPECT_EQ(h.run(), 70);
  EXPECT_EQ(h.postfix_stops, 1);
}

TEST(SupervisorTest, WhatDoesNotStopInTimeIsKilled) {
  Harness h;
  h.postfix_exits_on_stop = false;
  h.sys.stubborn = {"dovecot", "postfix"};
  h.sys.signal_at(seconds(1), SIGTERM);
  EXPECT_EQ(h.run(), 0);
  EXPECT_EQ(h.sys.since_start(), seconds(26));  // stop_timeout 25 s
  EXPECT_TRUE(h.sys.running.empty());
  int group_kills = 0;
  for (const auto& [pid, sig] : h.sys.sent) group_kills += (pid < 0 && sig == SIGKILL);
  EXPECT_GE(group_kills, 2);
}

TEST(SupervisorTest, SighupReconfiguresAndReloadsTheRunningDaemons) {
  Harness h;
  h.sys.signal_at(seconds(1), SIGHUP);
  h.sys.signal_at(seconds(2), SIGTERM);
  EXPECT_EQ(h.run(), 0);
  EXPECT_EQ(h.reconfigures, 1);
  EXPECT_EQ(h.postfix_reloads, 1);
  EXPECT_EQ(h.sys.sent.at(0), std::make_pair(pid_t{1000}, SIGHUP));  // dovecot: by signal
}

TEST(SupervisorTest, FailedReconfigurationReloadsNothing) {
  Harness h;
  h.reconfigure_fails = true;
  h.sys.signal_at(seconds(1), SIGHUP);
  h.sys.signal_at(seconds(2), SIGTERM);
  EXPECT_EQ(h.run(), 0);
  EXPECT_EQ(h.reconfigures, 1);
  EXPECT_EQ(h.postfix_reloads, 0);
  EXPECT_FALSE(h.sys.signalled("dovecot", SIGHUP));
}

TEST(SupervisorTest, WatchThatSeesAChangeReloadsLikeSighup) {
  Harness h;
  int checks = 0;
  h.options.watch_interval = seconds(30);
  h.options.watch = [&]() -> std::optional<std::string> {
    ++checks;
    if (checks == 2) return std::string("certificate files changed");
    return std::nullopt;
  };
  h.sys.signal_at(seconds(100), SIGTERM);
  EXPECT_EQ(h.run(), 0);
  EXPECT_EQ(checks, 3);  // at 30, 60 and 90 s
  EXPECT_EQ(h.reconfigures, 1);
  EXPECT_EQ(h.postfix_reloads, 1);
  EXPECT_TRUE(h.sys.signalled("dovecot", SIGHUP));
}

TEST(SupervisorTest, WatchWithAFailedReconfigurationReloadsNothing) {
  Harness h;
  h.reconfigure_fails = true;
  h.options.watch_interval = seconds(30);
  h.options.watch = []() -> std::optional<std::string> { return std::string("certificate files changed"); };
  h.sys.signal_at(seconds(45), SIGTERM);
  EXPECT_EQ(h.run(), 0);
  EXPECT_EQ(h.reconfigures, 1);
  EXPECT_EQ(h.postfix_reloads, 0);
  EXPECT_FALSE(h.sys.signalled("dovecot", SIGHUP));
}

TEST(SupervisorTest, AfterStartRetriesEverySecondUntilItSucceedsAndAgainAfterARestart) {
  Harness h;
  std::vector<milliseconds> calls;
  h.postfix_after_start = [&] {
    calls.push_back(h.sys.since_start());
    return calls.size() % 3 == 0;  // the third try of each start succeeds
  };
  h.sys.kill_at(seconds(10), "postfix");  // restarted after 1 s of back-off
  h.sys.signal_at(seconds(30), SIGTERM);
  EXPECT_EQ(h.run(), 0);
  EXPECT_EQ(calls, ms({1000, 2000, 3000, 12000, 13000, 14000}));
}

TEST(SupervisorTest, AfterStartGivesUpAfterItsTries) {
  Harness h;
  int calls = 0;
  h.postfix_after_start = [&] {
    ++calls;
    return false;
  };
  h.sys.signal_at(seconds(100), SIGTERM);
  EXPECT_EQ(h.run(), 0);
  EXPECT_EQ(calls, kAfterStartTries);
}

// The daemon waiting out its back-off is not reloaded (it reads the new
// configuration when it starts) and restarts when it was due to.
TEST(SupervisorTest, SighupDuringBackoffKeepsTheRestartTime) {
  Harness h;
  h.sys.kill_at(seconds(5), "dovecot");
  h.sys.signal_at(milliseconds(5500), SIGHUP);
  h.sys.signal_at(seconds(10), SIGTERM);
  EXPECT_EQ(h.run(), 0);
  EXPECT_EQ(h.reconfigures, 1);
  EXPECT_EQ(h.postfix_reloads, 1);
  EXPECT_FALSE(h.sys.signalled("dovecot", SIGHUP));
  EXPECT_EQ(h.sys.attempts["dovecot"], ms({0, 6000}));
}

TEST(SupervisorTest, WaitingFailureStopsWithInternalError) {
  Harness h;
  h.sys.at(seconds(1), std::function<std::vector<int>()>([] { return std::vector<int>{}; }));
  h.sys.fail_from = h.sys.start + seconds(1);
  EXPECT_EQ(h.run(), 70);
  EXPECT_TRUE(h.sys.running.empty());
}

// LogForwarder: real pipes in, a memfd out.
std::string read_all(int fd) {
  std::string out;
  lseek(fd, 0, SEEK_SET);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

TEST(LogForwarderTest, PrefixesLinesAndFlushesTheLastPartialOne) {
  int out = memfd_create("log", MFD_CLOEXEC);
  ASSERT_GE(out, 0);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  {
    LogForwarder logs;
    logs.add(p[0], out, "postfix");
    ASSERT_EQ(::write(p[1], "one\ntw", 6), 6);
    ASSERT_EQ(::write(p[1], "o\nthree", 7), 7);
    ::close(p[1]);
    logs.finish();
  }
  EXPECT_EQ(read_all(out), "postfix: one\npostfix: two\npostfix: three\n");
  ::close(out);
}

// Regression: lines were not read while the supervisor ran a reload or a
// stop, so a daemon writing more than a pipe holds blocked.
TEST(LogForwarderTest, DrainsWhileTheCallerIsBusy) {
  int out = memfd_create("log", MFD_CLOEXEC);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  LogForwarder logs;
  logs.add(p[0], out, "d");
  std::string line(1023, 'x');
  line += '\n';
  // 1 MiB through a 64 KiB pipe: blocking writes succeed only if the other
  // end is read while this thread does nothing else.
  for (int i = 0; i < 1024; ++i) ASSERT_EQ(::write(p[1], line.data(), line.size()), 1024);
  ::close(p[1]);
  logs.finish();
  EXPECT_EQ(read_all(out).size(), 1024u * (1024 + 3));
  ::close(out);
}

// OpenDKIM's tables: a change reloads that daemon alone, within about a
// second, without reconfiguring or reloading the others.
TEST(SupervisorTest, ChangedCheckReloadsOnlyThatDaemon) {
  Harness h;
  int checks = 0;
  std::optional<milliseconds> changed_at;
  h.dovecot_changed = [&]() -> std::optional<std::string> {
    ++checks;
    if (h.sys.since_start() >= milliseconds(3500) && !changed_at) {
      changed_at = h.sys.since_start();
      return "tables changed";
    }
    return std::nullopt;
  };
  h.sys.signal_at(seconds(10), SIGTERM);
  EXPECT_EQ(h.run(), 0);
  ASSERT_TRUE(changed_at.has_value());
  EXPECT_LE(*changed_at, milliseconds(4500));
  EXPECT_GE(checks, 8);
  EXPECT_TRUE(h.sys.signalled("dovecot", SIGHUP));
  EXPECT_EQ(h.postfix_reloads, 0);
  EXPECT_EQ(h.reconfigures, 0);
}

// Issue 23: libmilter daemons (OpenDKIM, vmail-milter) see a SIGTERM only
// when their listener's select() returns, every 5 s; the stop took up to 5 s.
// Their wake_to_stop hook runs at the stop and every kStopWakeInterval until
// they exit: never before the stop, never after the exit, no SIGKILL.
TEST(SupervisorTest, WakesAStoppingDaemonUntilItExits) {
  FakeSystem sys;
  sys.stubborn.insert("milter");  // SIGTERM alone does not end it at once
  LogForwarder logs;
  std::vector<milliseconds> wakes;
  std::vector<DaemonSpec> daemons;
  daemons.push_back(
      DaemonSpec{.name = "milter", .argv = {"milter"}, .wake_to_stop = [&] { wakes.push_back(sys.since_start()); }});
  daemons.push_back(DaemonSpec{.name = "plain", .argv = {"plain"}});
  sys.signal_at(milliseconds(2000), SIGTERM);
  sys.exit_at(milliseconds(2350), "milter");
  Supervisor supervisor(std::move(daemons), {}, SupervisorOptions{}, sys, sys, logs);
  EXPECT_EQ(supervisor.run(), 0);
  EXPECT_TRUE(sys.signalled("milter", SIGTERM));
  EXPECT_FALSE(sys.signalled("milter", SIGKILL));
  EXPECT_EQ(wakes, (std::vector<milliseconds>{milliseconds(2000), milliseconds(2100), milliseconds(2200),
                                              milliseconds(2300)}));
  EXPECT_EQ(sys.since_start(), milliseconds(2350));  // done when the last daemon exited
}

}  // namespace
}  // namespace vmail
