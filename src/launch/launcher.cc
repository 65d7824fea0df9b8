#include "launch/launcher.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <sstream>
#include <thread>

#include "core/database.h"
#include "core/files.h"
#include "core/process.h"
#include "exporters/export.h"
#include "exporters/exported_files.h"
#include "launch/config.h"
#include "launch/prepare.h"
#include "launch/supervise.h"
#include "launch/tls.h"

namespace vmail {
namespace {

void log_warnings(const std::vector<std::string>& warnings) {
  for (const auto& w : warnings) spdlog::warn("{}", w);
}

Status export_now(const LaunchSettings& launch) {
  auto db = Database::open_migrated(launch.base.db);
  if (!db.ok()) return db.status();
  auto report = export_all(**db, launch.base);
  if (!report.ok()) return report.status();
  for (const auto& path : report->written) spdlog::debug("exported {}", path);
  return Status::Ok();
}

// The parent of `pid` (from /proc/PID/stat), or 0.
pid_t parent_pid(pid_t pid) {
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok() || !*stat) return 0;
  // "pid (comm) state ppid ...": comm may hold anything, so from the last ')'.
  const std::string& text = **stat;
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(text.substr(close + 1));
  std::string state;
  long ppid = 0;
  in >> state >> ppid;
  return static_cast<pid_t>(ppid);
}

// Runs a Postfix admin command (stop, reload) for this instance.
Status postfix_command(const LaunchSettings& launch, const std::string& command) {
  auto r = run_process({"postfix", "-c", launch.base.postfix_dir, command}, daemon_environment());
  if (!r.ok()) return r.status();
  for (size_t start = 0; start < r->output.size();) {
    size_t end = r->output.find('\n', start);
    if (end == std::string::npos) end = r->output.size();
    if (end > start) spdlog::info("postfix {}: {}", command, r->output.substr(start, end - start));
    start = end + 1;
  }
  if (r->exit_code != 0)
    return Status(Code::kInternal, "postfix " + command + " exited " + std::to_string(r->exit_code));
  return Status::Ok();
}

// Asks Postfix to retry its whole queue now. Mail deferred before a restart
// (e.g. accepted while Dovecot was down, then the container re-created) would
// otherwise wait out its back-off, up to maximal_backoff_time. False while
// the master is not up yet ("mail system is down").
bool flush_queue(const LaunchSettings& launch) {
  auto r = run_process({"postqueue", "-c", launch.base.postfix_dir, "-f"}, daemon_environment());
  if (r.ok() && r->exit_code == 0) {
    spdlog::debug("postfix: queue flushed");
    return true;
  }
  spdlog::debug("postqueue -f: {}", r.ok() ? r->output : r.status().message());
  return false;
}

// A connection to a libmilter daemon's socket, closed at once: it wakes the
// listener so the daemon sees a stop now rather than within 5 s (see
// DaemonSpec::wake_to_stop). Errors are ignored: it may be gone already.
void poke_unix_socket(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) return;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::close(fd);
}

// What `postfix stop` does (postfix-script: kill `sed 1q pid/master.pid`),
// without its wait, which polls once a second and so takes a second or
// more: the supervisor waits for `postfix start-fg` to exit itself (and
// kills what is left after stop_timeout, as postfix stop would after 5 s).
// The pid must be `postfix start-fg`'s own (it execs the master as PID 1)
// or its child's; otherwise `postfix stop` does it.
Status stop_postfix(const LaunchSettings& launch, pid_t start_fg) {
  auto text = read_file(launch.queue_dir + "/pid/master.pid");
  pid_t master = 0;
  if (text.ok() && *text) {
    std::string digits = **text;
    digits.erase(0, digits.find_first_not_of(" \t"));
    digits.erase(std::min(digits.size(), digits.find_first_not_of("0123456789")));
    if (!digits.empty() && digits.size() < 10) master = static_cast<pid_t>(std::stol(digits));
  }
  bool ours = master > 0 && (master == start_fg || parent_pid(master) == start_fg);
  if (!ours) return postfix_command(launch, "stop");
  spdlog::debug("postfix: SIGTERM to its master (pid {}), as postfix stop does", master);
  if (::kill(master, SIGTERM) != 0) return Status(Code::kInternal, "kill master: " + std::string(strerror(errno)));
  return Status::Ok();
}

bool socket_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// libvmail-stderr-syslog.so (src/stderr_syslog): beside this program in a
// build folder, in ../lib/vmail when installed; "" when neither exists.
std::string stderr_syslog_library() {
  for (const char* name : {"libvmail-stderr-syslog.so", "../lib/vmail/libvmail-stderr-syslog.so"}) {
    std::string path = program_beside_this_one(name);
    if (::access(path.c_str(), R_OK) == 0) return std::filesystem::weakly_canonical(path).string();
  }
  return "";
}

}  // namespace

// OpenDKIM re-reads its configuration and tables on SIGUSR1; SIGHUP would
// stop it (libmilter treats it as a shutdown). It logs only through
// syslog(3), which a container has no daemon for: the preloaded library
// writes those lines to its stderr, which reaches our log like any daemon's.
// Which exported files it is reloaded for is the table's (exported_files.h):
// their inode, size and mtime, since the exporter replaces them by rename.
DaemonSpec opendkim_daemon(const LaunchSettings& launch, const ExportTable& table) {
  DaemonSpec spec{.name = "opendkim", .argv = {"opendkim", "-f", "-x", opendkim_config_file(launch)}};
  auto tables = std::make_shared<ExportWatch>(watched_exports(launch.base, spec.name, table));
  if (std::string library = stderr_syslog_library(); !library.empty()) {
    spec.environment.push_back("LD_PRELOAD=" + library);
  } else {
    spdlog::warn(
        "libvmail-stderr-syslog.so is not installed beside vmail-launch: OpenDKIM's reasons (e.g. a "
        "refused key) will not reach this log");
  }
  spec.reload = [](pid_t pid) {
    if (::kill(pid, SIGUSR1) != 0) return Status(Code::kInternal, "kill SIGUSR1: " + std::string(strerror(errno)));
    return Status::Ok();
  };
  spec.changed = [tables] { return tables->changed(); };
  spec.wake_to_stop = [socket = opendkim_socket(launch.base)] { poke_unix_socket(socket); };
  return spec;
}

namespace {

// unbound (VMAIL_DANE=on): the validating resolver for Postfix's DANE
// lookups, in the foreground; it drops to the unbound user itself and
// re-reads its config on SIGHUP.
DaemonSpec resolver_daemon(const LaunchSettings& launch) {
  return DaemonSpec{.name = "unbound", .argv = {"unbound", "-d", "-c", unbound_config_file(launch)}};
}

// postfix-mta-sts-resolver (VMAIL_MTA_STS=on), as nobody: it holds no
// secret and keeps its cache in memory. Its config names only the port,
// which a reload cannot change, so a reload has nothing to do (SIGHUP would
// stop it).
DaemonSpec mta_sts_daemon(const LaunchSettings& launch) {
  DaemonSpec spec{.name = "mta-sts",
                  .argv = {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", "mta-sts-daemon",
                           "-c", mta_sts_config_file(launch)}};
  spec.reload = [](pid_t) { return Status::Ok(); };
  return spec;
}

// The node's follower of a PostgreSQL store: this program's sibling `vmail`
// exporting every change (pg/follow.h); SIGTERM stops it.
DaemonSpec follower_daemon(const LaunchSettings& launch) {
  return DaemonSpec{
      .name = "follower",
      .argv = {program_beside_this_one("vmail"), "export", "--follow", "--config", follower_config_file(launch)}};
}

// vmail-milter (milter/milter.h): the From: rule for logins. It re-reads
// sender_logins by itself when the exporter replaces it, so a reload has
// nothing to do; SIGHUP would stop it (libmilter), SIGTERM does.
DaemonSpec milter_daemon(const LaunchSettings& launch) {
  DaemonSpec spec{
      .name = "vmail-milter",
      .argv = {program_beside_this_one("vmail-milter"), "--socket", vmail_milter_socket(launch.base), "--sender-logins",
               export_path(*find_exported_file(exported_files(), "sender_logins"), launch.base), "--user", "postfix"}};
  spec.reload = [](pid_t) { return Status::Ok(); };
  spec.wake_to_stop = [socket = vmail_milter_socket(launch.base)] { poke_unix_socket(socket); };
  return spec;
}

// The spam layer (VMAIL_SPAM): Redis, then rspamd (which keeps its Bayes
// statistics there), then postgrey (VMAIL_GREYLIST). All listen on
// 127.0.0.1 only and keep their data on the state volume.
//
// Redis has no user setting of its own (Debian's unit runs it as redis):
// setpriv drops to that user and execs it, so its pid is Redis's. It
// ignores SIGHUP and its config only changes with its port: no reload.
// rspamd reads Debian's /etc/rspamd/rspamd.conf, with LOCAL_CONFDIR
// pointing at the rendered overrides (templates/rspamd), its database and
// hyperscan cache (DBDIR) on the state volume; its workers run as _rspamd;
// SIGHUP re-reads the configuration. postgrey's settings are its arguments
// (a changed delay needs a restart): no reload either; it drops to postgrey.
std::vector<DaemonSpec> spam_daemons(const LaunchSettings& launch) {
  std::vector<DaemonSpec> out;
  if (!launch.endpoints.spam) return out;
  auto nothing = [](pid_t) { return Status::Ok(); };
  // rspamd and Redis rename their processes: the state folder in their
  // environment tells whose they are (as the other daemons' arguments do).
  const std::vector<std::string> instance = {"VMAIL_STATE_DIR=" + launch.base.state_dir};
  out.push_back(DaemonSpec{
      .name = "redis",
      .argv = {"setpriv", "--reuid=redis", "--regid=redis", "--init-groups", "redis-server", redis_config_file(launch)},
      .reload = nothing,
      .environment = instance});
  out.push_back(DaemonSpec{.name = "rspamd",
                           .argv = {"rspamd", "-f", "-u", "_rspamd", "-g", "_rspamd", "-c", "/etc/rspamd/rspamd.conf",
                                    "--var", "LOCAL_CONFDIR=" + launch.rspamd_dir, "--var",
                                    "DBDIR=" + launch.rspamd_db_dir, "--var", "RUNDIR=" + launch.rspamd_run_dir},
                           .environment = instance});
  if (launch.endpoints.greylist) {
    out.push_back(
        DaemonSpec{.name = "postgrey",
                   .argv = {"postgrey", "--inet=127.0.0.1:" + std::to_string(launch.endpoints.port("postgrey")),
                            "--dbdir=" + launch.postgrey_db_dir, "--delay=" + std::to_string(launch.greylist_delay),
                            "--user=postgrey", "--group=postgrey"},
                   .reload = nothing,
                   .environment = instance});
  }
  return out;
}

// vmail-policyd (policy/server.h): login bans for Dovecot's auth and send
// limits for Postfix, on loopback. Its settings come as arguments, which a
// reload does not change; SIGHUP would stop it, so a reload does nothing.
DaemonSpec policyd_daemon(const LaunchSettings& launch) {
  DaemonSpec spec{
      .name = "vmail-policyd",
      .argv = {program_beside_this_one("vmail-policyd"), "--auth-port", std::to_string(launch.endpoints.port("policy")),
               "--send-port", std::to_string(launch.endpoints.port("send-policy")), "--state-dir",
               launch.base.state_dir, "--db", launch.base.db, "--ban-failures", std::to_string(launch.ban.failures),
               "--ban-window", std::to_string(launch.ban.window), "--ban-time", std::to_string(launch.ban.ban_time),
               "--ban-ignore", launch.ban_ignore, "--send-limit", std::to_string(launch.base.send_limit)}};
  spec.reload = [](pid_t) { return Status::Ok(); };
  return spec;
}

using Step = std::function<Status()>;

// Certificates, DH parameters, configs, export: what SIGHUP redoes. The steps
// share *tls and *warnings, which must outlive them; warnings are logged once
// the configs pass their checks.
std::vector<Step> reconfigure_steps(const LaunchSettings& launch, TlsFiles* tls, std::vector<std::string>* warnings) {
  return {
      [&launch, tls, warnings] {
        auto installed = install_certificates(launch, warnings);
        if (!installed.ok()) return installed.status();
        *tls = *installed;
        return Status::Ok();
      },
      [&launch] { return ensure_dh_params(launch.dh_file); },
      // Before rendering: the verdict decides OpenDKIM's RequireSafeKeys.
      [&launch, warnings] { return check_dkim_key_folder(launch, warnings); },
      [&launch, tls] {
        auto files = render_configs(launch, *tls);
        if (!files.ok()) return files.status();
        auto written = write_configs(*files);
        if (!written.ok()) return written.status();
        for (const auto& path : *written) spdlog::info("wrote {}", path);
        return Status::Ok();
      },
      [&launch] {
        auto changed = write_relay_password_map(launch);
        if (!changed.ok()) return changed.status();
        // The path only: the map holds the relay password.
        if (*changed) spdlog::info("{} {}", launch.relay.user.empty() ? "removed" : "wrote", launch.relay_password_map);
        return Status::Ok();
      },
      [&launch] {
        auto repaired = repair_queue_owner(launch);
        if (!repaired.ok()) return repaired.status();
        if (!repaired->empty()) spdlog::warn("{}", *repaired);
        return Status::Ok();
      },
      [&launch, warnings] {
        if (Status s = validate_configs(launch, warnings); !s.ok()) return s;
        log_warnings(*warnings);
        return Status::Ok();
      },
      [&launch] { return export_now(launch); },
  };
}

Result<Configured> run_steps(const std::vector<Step>& steps, const StopCheck& stop) {
  for (const auto& step : steps) {
    if (stop && stop()) return Configured::kStopped;
    if (Status s = step(); !s.ok()) return s;
  }
  return Configured::kDone;
}

Status prepare_database_step(const LaunchSettings& launch) {
  std::string backup;
  if (Status s = prepare_database(launch, &backup); !s.ok()) return s;
  if (!backup.empty()) spdlog::info("database backed up to {} before migrating", backup);
  return Status::Ok();
}

Status prepare_dirs_step(const LaunchSettings& launch) {
  std::vector<std::string> warnings;
  if (Status s = prepare_dirs(launch, &warnings); !s.ok()) return s;
  if (!launch.relay.host.empty() && launch.relay.tls_level == "encrypt") {
    warnings.push_back(
        "VMAIL_RELAY_TLS=encrypt: the relay's certificate is not verified" +
        std::string(launch.relay.user.empty() ? "" : "; whoever answers for it gets the relay password"));
  }
  log_warnings(warnings);
  if (std::string adopted = adopt_legacy_queue(launch); !adopted.empty()) spdlog::warn("{}", adopted);
  return Status::Ok();
}

}  // namespace

Status reconfigure(const LaunchSettings& launch) {
  TlsFiles tls;
  std::vector<std::string> warnings;
  auto done = run_steps(reconfigure_steps(launch, &tls, &warnings), {});
  return done.ok() ? Status::Ok() : done.status();
}

Result<Configured> configure(const LaunchSettings& launch, const StopCheck& stop) {
  TlsFiles tls;
  std::vector<std::string> warnings;
  std::vector<Step> steps = {
      [&launch] { return lock_instance(launch); },
      [&launch] { return ensure_vmail_account(launch.base.uid, launch.base.gid); },
      [&launch] { return prepare_dirs_step(launch); },
      [&launch] { return prepare_database_step(launch); },
      [&launch] { return ensure_policy_nonce(launch); },
  };
  for (auto& step : reconfigure_steps(launch, &tls, &warnings)) steps.push_back(std::move(step));
  return run_steps(steps, stop);
}

int run_launcher(const LaunchSettings& launch, bool configure_only) {
  if (!configure_only) {
    // Fail before touching anything when a port is taken.
    if (Status s = check_ports_free(launch.endpoints); !s.ok()) {
      spdlog::error("{}", s.message());
      return s.exit_code();
    }
  }
  auto configured = configure(launch, [] { return pending_stop_signal() != 0; });
  if (!configured.ok()) {
    spdlog::error("{}", configured.status().message());
    return configured.status().exit_code();
  }
  if (*configured == Configured::kStopped) {
    spdlog::info("{} while configuring: stopped before starting the daemons", signal_name(pending_stop_signal()));
    return 0;
  }
  if (configure_only) {
    spdlog::info("configured {} (server {}); daemons not started (--configure-only)", launch.mail_domain,
                 launch.server_name);
    return 0;
  }

  const std::string lmtp_socket = launch.queue_dir + "/private/dovecot-lmtp";
  std::vector<DaemonSpec> daemons;
  // Dovecot first: Postfix hands mail to its LMTP socket and authenticates
  // through its auth socket. It is also the last to exit on SIGTERM: once its
  // children are gone its master sends the log process SIGQUIT and sleeps a
  // whole second (strace), the floor of the launcher's stop time.
  daemons.push_back(DaemonSpec{.name = "dovecot", .argv = {"dovecot", "-F", "-c", dovecot_config_file(launch)}});
  // Before Dovecot's first login and Postfix's first RCPT; both go on
  // without it while it is down (auth_policy_reject_on_fail=no, the policy
  // service's default_action=DUNNO).
  daemons.push_back(policyd_daemon(launch));
  // Before Postfix, which hands it every message (and accepts them unsigned
  // while it is down: milter_default_action).
  daemons.push_back(opendkim_daemon(launch, exported_files()));
  daemons.push_back(milter_daemon(launch));
  // Before Postfix too: its smtp client asks them for each destination.
  if (launch.endpoints.on("resolver")) daemons.push_back(resolver_daemon(launch));
  if (launch.endpoints.on("mta-sts")) daemons.push_back(mta_sts_daemon(launch));
  // Before Postfix, which asks rspamd (milter) and postgrey (policy); it
  // accepts mail unscanned and ungreylisted while they are not up yet.
  for (auto& spec : spam_daemons(launch)) daemons.push_back(std::move(spec));
  daemons.push_back(DaemonSpec{
      .name = "postfix",
      .argv = {"postfix", "-c", launch.base.postfix_dir, "start-fg"},
      .stop = [&launch](pid_t pid) { return stop_postfix(launch, pid); },
      .reload = [&launch](pid_t) { return postfix_command(launch, "reload"); },
      // Give Dovecot a moment to create its sockets so the first mail is not
      // deferred, OpenDKIM its socket so it is signed, and vmail-milter its
      // socket so mail from logins is not deferred.
      .before_start =
          [lmtp_socket, milter = opendkim_socket(launch.base), from = vmail_milter_socket(launch.base)] {
            for (int i = 0; i < 50 && !(socket_exists(lmtp_socket) && socket_exists(milter) && socket_exists(from));
                 ++i) {
              std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
          },
      .after_start = [&launch] { return flush_queue(launch); }});
  if (!launch.base.upstream.empty()) daemons.push_back(follower_daemon(launch));
  SupervisorOptions options;
  options.environment = daemon_environment();
  // libpq's own password file, when the follower's comes from there.
  if (const char* pgpass = std::getenv("PGPASSFILE"); pgpass && *pgpass && launch.base.db_password_file.empty()) {
    options.environment.push_back(std::string("PGPASSFILE=") + pgpass);
  }
  CertificateWatch certificates(launch);
  options.watch_interval = std::chrono::seconds(launch.cert_check_interval);
  options.watch = [&certificates] { return certificates.changed(); };
  // Once everything checked out (a refused start says one line only).
  if (std::string dane = dane_resolver_warning(launch); !dane.empty()) spdlog::warn("{}", dane);
  std::string names;
  for (const DaemonSpec& d : daemons) names += (names.empty() ? "" : ", ") + d.name;
  spdlog::info("starting {} for {} (server {})", names, launch.mail_domain, launch.server_name);
  return supervise(
      std::move(daemons), [&launch] { return reconfigure(launch); }, options);
}

}  // namespace vmail
