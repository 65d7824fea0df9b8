// `vmail health [--timeout SECONDS] [--json]`: checks every mail service
// (src/launch/health.h), OpenDKIM's milter socket under VMAIL_ROOT included.
// Ports and address: flags, environment, then the values the launcher
// recorded in the database, then the defaults.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "cli/app.h"
#include "cli/settings_cli.h"
#include "launch/health.h"
#include "launch/launch_settings.h"
#include "pg/follow.h"

namespace vmail::cli {
namespace {

struct HealthArgs {
  double timeout = 5;
  std::map<std::string, std::string> flags;  // VMAIL_LISTEN and the port variables
};

// The launcher's recorded endpoints, when the database exists and is readable
// (a read-only open never creates it).
std::map<std::string, std::string> recorded_endpoints(Context& ctx) {
  auto settings = ctx.settings();
  if (!settings.ok()) return {};
  auto db = Database::open((*settings)->db, Database::Mode::kReadOnly);
  if (!db.ok()) return {};
  auto recorded = (*db)->recorded_settings();
  return recorded.ok() ? *recorded : std::map<std::string, std::string>{};
}

Status health(Context& ctx, const HealthArgs& args) {
  if (!(args.timeout > 0) || args.timeout > 3600) {
    return Status(Code::kUsage, "--timeout " + std::to_string(args.timeout) + ": must be between 0 and 3600 seconds");
  }
  std::map<std::string, std::string> flags = ctx.flags;
  for (const auto& [name, value] : args.flags) {
    if (!value.empty()) flags[name] = value;
  }
  auto endpoints = load_endpoints(flags, process_env(), recorded_endpoints(ctx));
  if (!endpoints.ok()) return endpoints.status();
  auto timeout = std::chrono::milliseconds(static_cast<int64_t>(std::llround(args.timeout * 1000)));
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  auto results = check_health(endpoints->connect_host(), *endpoints, milter_sockets(**settings), timeout);
  if (!(*settings)->upstream.empty()) {
    results.push_back(check_follower(pg::follower_status_path(**settings), std::time(nullptr)));
  }
  bool healthy = true;
  for (const auto& r : results) healthy = healthy && r.healthy;

  if (ctx.json) {
    nlohmann::ordered_json services = nlohmann::ordered_json::object();
    for (const auto& r : results) {
      nlohmann::ordered_json s = {{"status", r.healthy ? "healthy" : "unhealthy"}};
      if (!r.file.empty()) {
        s["status_file"] = r.file;
      } else if (r.socket.empty()) {
        s["port"] = r.port;
      } else {
        s["socket"] = r.socket;
      }
      s["ms"] = r.ms;
      if (!r.healthy) s["error"] = r.error;
      services[r.name] = s;
    }
    nlohmann::ordered_json out = {{"status", healthy ? "healthy" : "unhealthy"}, {"services", services}};
    print_json(out);
  } else {
    // The name column as wide as the longest name (rspamd-controller).
    int width = 12;
    for (const auto& r : results) width = std::max(width, static_cast<int>(r.name.size()));
    for (const auto& r : results) {
      std::string where = !r.file.empty() ? "file" : r.socket.empty() ? std::to_string(r.port) : "unix";
      std::printf("%-*s %5s  %-9s %5lld ms%s%s\n", width, r.name.c_str(), where.c_str(),
                  r.healthy ? "healthy" : "unhealthy", static_cast<long long>(r.ms), r.healthy ? "" : "  ",
                  r.error.c_str());
    }
    std::printf("%s\n", healthy ? "healthy" : "unhealthy");
  }
  return healthy ? Status::Ok() : Status(Code::kUnhealthy, "");
}

}  // namespace

void add_health_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "health",
      "check SMTP, submission, SMTPS, IMAP(S), POP3(S), ManageSieve, quota-status, vmail-policyd, OpenDKIM, "
      "vmail-milter, and what runs of unbound, the MTA-STS daemon, Redis, rspamd, postgrey");
  auto* args = ctx.keep<HealthArgs>();
  cmd->add_option("--timeout", args->timeout, "seconds per service (default 5)");
  // VMAIL_LISTEN and the ports, from the one table (core/settings_table.h).
  add_setting_flags(*cmd, args->flags, kScopeHealth);
  cmd->callback([&ctx, args] { ctx.action = [&ctx, args] { return health(ctx, *args); }; });
}

}  // namespace vmail::cli
