// vmail-launch: turns a volume and a few settings into a running, secure
// mail server (SPEC "Launcher"). configure() does every preparation step;
// run_launcher() adds the supervised Postfix and Dovecot.
#pragma once

#include <functional>

#include "core/status.h"
#include "exporters/exported_files.h"
#include "launch/launch_settings.h"
#include "launch/supervise.h"

namespace vmail {

// Asked before each configuration step: true ends the configuration there
// (a SIGTERM arrived). Empty: never.
using StopCheck = std::function<bool()>;

enum class Configured { kDone, kStopped };

// Everything but starting the daemons: one launcher per root, the vmail
// account, folders, database (backup + migration, recorded settings, the
// MAIL_DOMAIN domain), certificates and DH parameters, rendered and validated
// configs, and the export. Warnings are logged. kConfig (78) on bad
// configuration, with one line naming the setting. kStopped when `stop` said
// so before a step: the steps done stay done (each is idempotent and writes
// its files atomically), the rest is not started.
Result<Configured> configure(const LaunchSettings& settings, const StopCheck& stop = {});

// What SIGHUP does before the daemons reload: certificates, configs, export.
Status reconfigure(const LaunchSettings& settings);

// configure(), then (unless configure_only) checks the ports, starts and
// supervises `postfix start-fg` and `dovecot -F` until SIGTERM/SIGINT.
// Returns the process exit code: 0 also when a SIGTERM/SIGINT/SIGQUIT
// (blocked by block_supervisor_signals() in main) arrives while configuring.
// OpenDKIM as a supervised daemon: reloaded (SIGUSR1) when the exported files
// the table marks for it change (its watch, DaemonSpec::changed).
DaemonSpec opendkim_daemon(const LaunchSettings& settings, const ExportTable& table);

int run_launcher(const LaunchSettings& settings, bool configure_only);

}  // namespace vmail
