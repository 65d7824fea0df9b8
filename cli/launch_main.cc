// vmail-launch: the container entrypoint. Parses settings (environment,
// overridden by flags of the same name) and runs the launcher (src/launch/launcher.h).
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <string>

#include "cli/settings_cli.h"
#include "launch/launch_settings.h"
#include "launch/launcher.h"
#include "launch/supervise.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"vmail-launch: configure and run Postfix and Dovecot for vmail", "vmail-launch"};
  app.set_version_flag("--version", std::string(VMAIL_VERSION));
  std::map<std::string, std::string> flags;
  // Every setting vmail-launch takes, from the one table (core/settings_table.h).
  vmail::cli::add_setting_flags(app, flags, vmail::kScopeLaunch);
  bool configure_only = false;
  bool verbose = false;
  app.add_flag("--configure-only", configure_only,
               "prepare everything (database, certificates, configs, export) "
               "but do not start the daemons");
  app.add_flag("-v,--verbose", verbose, "debug output");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "vmail-launch: %s (see vmail-launch --help)\n", e.what());
    return static_cast<int>(vmail::Code::kUsage);
  }

  auto logger = spdlog::stderr_logger_st("vmail-launch");
  logger->set_pattern("vmail-launch: %l: %v");
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);

  vmail::cli::export_setting_flags(flags);
  auto settings = vmail::load_launch_settings(flags, vmail::process_env());
  if (!settings.ok()) {
    std::fprintf(stderr, "vmail-launch: %s\n", settings.status().message().c_str());
    return settings.status().exit_code();
  }
  try {
    return vmail::run_launcher(*settings, configure_only);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vmail-launch: internal error: %s\n", e.what());
    return static_cast<int>(vmail::Code::kInternal);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // First thing: as PID 1 a SIGTERM would otherwise be ignored (no handler)
  // until the supervisor runs. Blocked, it waits for the launcher to look
  // between configuration steps, and then for the supervisor's signalfd.
  vmail::block_supervisor_signals();
  umask(022);
  return run(argc, argv);
}
