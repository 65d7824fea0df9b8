// vmail-policyd: login bans for Dovecot's auth and send limits for Postfix
// (src/policy/server.h), on loopback. Started and supervised by
// vmail-launch; it only parses its arguments and runs the library.
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "core/ip_network.h"
#include "core/settings_table.h"
#include "policy/server.h"

namespace {

// Each value as the settings table checks it: one line naming the setting, 78.
bool check(const char* name, const std::string& value) {
  vmail::Status s = vmail::check_setting(*vmail::find_setting(name), value);
  if (s.ok()) return true;
  std::fprintf(stderr, "vmail-policyd: %s\n", s.message().c_str());
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vmail-policyd: login bans (Dovecot's auth policy) and send limits (Postfix policy delegation)",
               "vmail-policyd"};
  app.set_version_flag("--version", std::string(VMAIL_VERSION));
  vmail::PolicydOptions o;
  std::string failures = "10", window = "600", ban_time = "3600", ignore = "127.0.0.1/32,::1/128", limit = "500";
  bool verbose = false;
  app.add_option("--auth-port", o.auth_port, "Dovecot's auth policy (HTTP) port on 127.0.0.1")->required();
  app.add_option("--send-port", o.send_port, "Postfix's policy port on 127.0.0.1")->required();
  app.add_option("--state-dir", o.state_dir, "VMAIL_STATE_DIR: policy.db")->required();
  app.add_option("--db", o.db, "the vmail database, read for each login's send limit")->required();
  app.add_option("--ban-failures", failures, "VMAIL_BAN_FAILURES");
  app.add_option("--ban-window", window, "VMAIL_BAN_WINDOW (seconds)");
  app.add_option("--ban-time", ban_time, "VMAIL_BAN_TIME (seconds)");
  app.add_option("--ban-ignore", ignore, "VMAIL_BAN_IGNORE (networks)");
  app.add_option("--send-limit", limit, "VMAIL_SEND_LIMIT (recipients per hour)");
  app.add_flag("-v,--verbose", verbose, "debug output");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "vmail-policyd: %s (see vmail-policyd --help)\n", e.what());
    return static_cast<int>(vmail::Code::kUsage);
  }
  if (!check("VMAIL_BAN_FAILURES", failures) || !check("VMAIL_BAN_WINDOW", window) ||
      !check("VMAIL_BAN_TIME", ban_time) || !check("VMAIL_BAN_IGNORE", ignore) || !check("VMAIL_SEND_LIMIT", limit)) {
    return static_cast<int>(vmail::Code::kConfig);
  }
  o.auth.rules = {std::stoi(failures), std::stoll(window), std::stoll(ban_time)};
  o.auth.ignore = *vmail::parse_network_list(ignore, "VMAIL_BAN_IGNORE");
  o.send_limit = std::stoll(limit);

  // Before any thread: the stop signals are taken by sigwait alone.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Lines go to stderr; under vmail-launch each gets the "vmail-policyd: " prefix.
  auto logger = spdlog::stderr_logger_mt("vmail-policyd");
  logger->set_pattern("%l: %v");
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  try {
    return vmail::run_policyd(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vmail-policyd: internal error: %s\n", e.what());
    return static_cast<int>(vmail::Code::kInternal);
  }
}
