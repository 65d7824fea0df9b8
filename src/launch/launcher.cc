#include "launch/launcher.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>

#include "core/database.h"
#include "core/process.h"
#include "exporters/export.h"
#include "launch/config.h"
#include "launch/prepare.h"
#include "launch/supervise.h"
#include "launch/tls.h"

namespace vmail {
namespace {

void log_warnings(const std::vector<std::string>& warnings) {
  for (const auto& w : warnings) spdlog::warn("{}", w);
}

Status export_now(const LaunchSettings& l) {
  auto db = Database::open_migrated(l.base.db);
  if (!db.ok()) return db.status();
  auto report = export_all(**db, l.base);
  if (!report.ok()) return report.status();
  for (const auto& path : report->written) spdlog::debug("exported {}", path);
  return Status::Ok();
}

// Runs a Postfix admin command (stop, reload) for this instance.
Status postfix_command(const LaunchSettings& l, const std::string& command) {
  auto r = run_process({"postfix", "-c", l.base.postfix_dir, command}, daemon_environment());
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
bool flush_queue(const LaunchSettings& l) {
  auto r = run_process({"postqueue", "-c", l.base.postfix_dir, "-f"}, daemon_environment());
  if (r.ok() && r->exit_code == 0) {
    spdlog::debug("postfix: queue flushed");
    return true;
  }
  spdlog::debug("postqueue -f: {}", r.ok() ? r->output : r.status().message());
  return false;
}

bool socket_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// Inode, size and modification time of OpenDKIM's KeyTable and
// SigningTable: the exporter replaces them by rename, so any export that
// changed them changes the inode. A stat each, cheap enough for every second.
class TableWatch {
 public:
  explicit TableWatch(const std::string& dir) : paths_{dir + "/KeyTable", dir + "/SigningTable"}, last_(stamp()) {}
  std::optional<std::string> changed() {
    std::string now = stamp();
    if (now == last_) return std::nullopt;
    last_ = std::move(now);
    return "KeyTable or SigningTable changed";
  }

 private:
  std::string stamp() const {
    std::string out;
    for (const auto& path : paths_) {
      struct stat st;
      if (::stat(path.c_str(), &st) != 0) {
        out += "-;";
        continue;
      }
      out += std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) +
             "." + std::to_string(st.st_mtim.tv_nsec) + ";";
    }
    return out;
  }
  std::vector<std::string> paths_;
  std::string last_;
};

// OpenDKIM re-reads its configuration and tables on SIGUSR1; SIGHUP would
// stop it (libmilter treats it as a shutdown).
DaemonSpec opendkim_daemon(const LaunchSettings& l) {
  auto tables = std::make_shared<TableWatch>(l.base.opendkim_dir);
  DaemonSpec spec{"opendkim", {"opendkim", "-f", "-x", opendkim_config_file(l)}, {}, {}, {}, {}, {}};
  spec.reload = [](pid_t pid) {
    if (::kill(pid, SIGUSR1) != 0) return Status(Code::kInternal, "kill SIGUSR1: " + std::string(strerror(errno)));
    return Status::Ok();
  };
  spec.changed = [tables] { return tables->changed(); };
  return spec;
}

// The node's follower of a PostgreSQL store: this program's sibling `vmail`
// exporting every change (pg/follow.h); SIGTERM stops it.
DaemonSpec follower_daemon(const LaunchSettings& l) {
  std::vector<std::string> argv = {program_beside_this_one("vmail"), "export", "--follow", "--config",
                                   follower_config_file(l)};
  return DaemonSpec{"follower", argv, {}, {}, {}, {}, {}};
}

// vmail-milter (milter/milter.h): the From: rule for logins. It re-reads
// sender_logins by itself when the exporter replaces it, so a reload has
// nothing to do; SIGHUP would stop it (libmilter), SIGTERM does.
DaemonSpec milter_daemon(const LaunchSettings& l) {
  std::vector<std::string> argv = {program_beside_this_one("vmail-milter"),
                                   "--socket",
                                   vmail_milter_socket(l.base),
                                   "--sender-logins",
                                   l.base.postfix_dir + "/sender_logins",
                                   "--user",
                                   "postfix"};
  DaemonSpec spec{"vmail-milter", argv, {}, {}, {}, {}, {}};
  spec.reload = [](pid_t) { return Status::Ok(); };
  return spec;
}

using Step = std::function<Status()>;

// Certificates, DH parameters, configs, export: what SIGHUP redoes. The steps
// share *tls and *warnings, which must outlive them; warnings are logged once
// the configs pass their checks.
std::vector<Step> reconfigure_steps(const LaunchSettings& l, TlsFiles* tls, std::vector<std::string>* warnings) {
  return {
      [&l, tls, warnings] {
        auto installed = install_certificates(l, warnings);
        if (!installed.ok()) return installed.status();
        *tls = *installed;
        return Status::Ok();
      },
      [&l] { return ensure_dh_params(l.dh_file); },
      [&l, tls] {
        auto files = render_configs(l, *tls);
        if (!files.ok()) return files.status();
        auto written = write_configs(*files);
        if (!written.ok()) return written.status();
        for (const auto& path : *written) spdlog::info("wrote {}", path);
        return Status::Ok();
      },
      [&l] {
        auto changed = write_relay_password_map(l);
        if (!changed.ok()) return changed.status();
        // The path only: the map holds the relay password.
        if (*changed) spdlog::info("{} {}", l.relay.user.empty() ? "removed" : "wrote", l.relay_password_map);
        return Status::Ok();
      },
      [&l] {
        auto repaired = repair_queue_owner(l);
        if (!repaired.ok()) return repaired.status();
        if (!repaired->empty()) spdlog::warn("{}", *repaired);
        return Status::Ok();
      },
      [&l, warnings] {
        if (Status s = validate_configs(l, warnings); !s.ok()) return s;
        log_warnings(*warnings);
        return Status::Ok();
      },
      [&l] { return export_now(l); },
  };
}

Result<Configured> run_steps(const std::vector<Step>& steps, const StopCheck& stop) {
  for (const auto& step : steps) {
    if (stop && stop()) return Configured::kStopped;
    if (Status s = step(); !s.ok()) return s;
  }
  return Configured::kDone;
}

Status prepare_database_step(const LaunchSettings& l) {
  std::string backup;
  if (Status s = prepare_database(l, &backup); !s.ok()) return s;
  if (!backup.empty()) spdlog::info("database backed up to {} before migrating", backup);
  return Status::Ok();
}

Status prepare_dirs_step(const LaunchSettings& l) {
  std::vector<std::string> warnings;
  if (Status s = prepare_dirs(l, &warnings); !s.ok()) return s;
  log_warnings(warnings);
  if (std::string adopted = adopt_legacy_queue(l); !adopted.empty()) spdlog::warn("{}", adopted);
  return Status::Ok();
}

}  // namespace

Status reconfigure(const LaunchSettings& l) {
  TlsFiles tls;
  std::vector<std::string> warnings;
  auto done = run_steps(reconfigure_steps(l, &tls, &warnings), {});
  return done.ok() ? Status::Ok() : done.status();
}

Result<Configured> configure(const LaunchSettings& l, const StopCheck& stop) {
  TlsFiles tls;
  std::vector<std::string> warnings;
  std::vector<Step> steps = {
      [&l] { return lock_instance(l); },
      [&l] { return ensure_vmail_account(l.base.uid, l.base.gid); },
      [&l] { return prepare_dirs_step(l); },
      [&l] { return prepare_database_step(l); },
  };
  for (auto& step : reconfigure_steps(l, &tls, &warnings)) steps.push_back(std::move(step));
  return run_steps(steps, stop);
}

int run_launcher(const LaunchSettings& l, bool configure_only) {
  if (!configure_only) {
    // Fail before touching anything when a port is taken.
    if (Status s = check_ports_free(l.endpoints); !s.ok()) {
      spdlog::error("{}", s.message());
      return s.exit_code();
    }
  }
  auto configured = configure(l, [] { return pending_stop_signal() != 0; });
  if (!configured.ok()) {
    spdlog::error("{}", configured.status().message());
    return configured.status().exit_code();
  }
  if (*configured == Configured::kStopped) {
    spdlog::info("{} while configuring: stopped before starting the daemons", signal_name(pending_stop_signal()));
    return 0;
  }
  if (configure_only) {
    spdlog::info("configured {} (server {}); daemons not started (--configure-only)", l.mail_domain, l.server_name);
    return 0;
  }

  const std::string lmtp_socket = l.queue_dir + "/private/dovecot-lmtp";
  std::vector<DaemonSpec> daemons;
  // Dovecot first: Postfix hands mail to its LMTP socket and authenticates
  // through its auth socket.
  daemons.push_back(DaemonSpec{"dovecot", {"dovecot", "-F", "-c", dovecot_config_file(l)}, {}, {}, {}, {}, {}});
  // Before Postfix, which hands it every message (and accepts them unsigned
  // while it is down: milter_default_action).
  daemons.push_back(opendkim_daemon(l));
  daemons.push_back(milter_daemon(l));
  daemons.push_back(DaemonSpec{"postfix",
                               {"postfix", "-c", l.base.postfix_dir, "start-fg"},
                               [&l](pid_t) { return postfix_command(l, "stop"); },
                               [&l](pid_t) { return postfix_command(l, "reload"); },
                               // Give Dovecot a moment to create its sockets so the first mail is not
                               // deferred, OpenDKIM its socket so it is signed, and vmail-milter its
                               // socket so mail from logins is not deferred.
                               [lmtp_socket, milter = opendkim_socket(l.base), from = vmail_milter_socket(l.base)] {
                                 for (int i = 0; i < 50 && !(socket_exists(lmtp_socket) && socket_exists(milter) &&
                                                             socket_exists(from));
                                      ++i) {
                                   std::this_thread::sleep_for(std::chrono::milliseconds(50));
                                 }
                               },
                               [&l] { return flush_queue(l); },
                               {}});
  if (!l.base.upstream.empty()) daemons.push_back(follower_daemon(l));
  SupervisorOptions options;
  options.environment = daemon_environment();
  // libpq's own password file, when the follower's comes from there.
  if (const char* pgpass = std::getenv("PGPASSFILE"); pgpass && *pgpass && l.base.db_password_file.empty()) {
    options.environment.push_back(std::string("PGPASSFILE=") + pgpass);
  }
  CertificateWatch certificates(l);
  options.watch_interval = std::chrono::seconds(l.cert_check_interval);
  options.watch = [&certificates] { return certificates.changed(); };
  spdlog::info("starting Postfix, Dovecot, OpenDKIM, vmail-milter{} for {} (server {})",
               l.base.upstream.empty() ? "" : " and the follower of the shared store", l.mail_domain, l.server_name);
  return supervise(
      std::move(daemons), [&l] { return reconfigure(l); }, options);
}

}  // namespace vmail
