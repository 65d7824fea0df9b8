// vmail-launch: turns a volume and a few settings into a running, secure
// mail server (SPEC "Launcher"). configure() does every preparation step;
// run_launcher() adds the supervised Postfix and Dovecot.
#pragma once

#include "launch/launch_settings.h"
#include "core/status.h"

namespace vmail {

// Everything but starting the daemons: one launcher per root, the vmail
// account, folders, database (backup + migration, recorded settings, the
// MAIL_DOMAIN domain), certificates and DH parameters, rendered and validated
// configs, and the export. Warnings are logged. kConfig (78) on bad
// configuration, with one line naming the setting.
Status configure(const LaunchSettings& settings);

// What SIGHUP does before the daemons reload: certificates, configs, export.
Status reconfigure(const LaunchSettings& settings);

// configure(), then (unless configure_only) checks the ports, starts and
// supervises `postfix start-fg` and `dovecot -F` until SIGTERM/SIGINT.
// Returns the process exit code.
int run_launcher(const LaunchSettings& settings, bool configure_only);

}  // namespace vmail
