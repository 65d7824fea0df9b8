// `vmail config [-n] [--json]`: every setting of the table
// (core/settings_table.h), its effective value and where it came from
// (flag, environment, database, default), like `postconf -n`. Read-only: the
// database is opened only when it exists, never created or migrated, and no
// file a setting names (a password file) is read. A missing database is exit
// 66 as for every read command (SPEC), after the settings that do not need it
// are printed: they are what an admin checks before the first start.
#include <sys/stat.h>

#include <cerrno>

#include "cli/app.h"
#include "cli/settings_cli.h"

namespace vmail::cli {
namespace {

struct ConfigArgs {
  bool non_default = false;
};

// The settings the launcher recorded, when the database exists; checked as
// every reader checks them (apply_recorded).
bool is_local_database(const std::string& db) { return !db.empty() && db.front() == '/'; }

Result<std::map<std::string, std::string>> recorded_settings(const Settings& settings) {
  struct stat st;
  if (!is_local_database(settings.db) || ::stat(settings.db.c_str(), &st) != 0) {
    return std::map<std::string, std::string>{};
  }
  auto db = Database::open_for_reading(settings.db);
  if (!db.ok()) return db.status();
  auto recorded = (*db)->recorded_settings();
  if (!recorded.ok()) return recorded.status();
  Settings applied = settings;
  if (Status s = apply_recorded(applied, *recorded); !s.ok()) return s;
  return *recorded;
}

Status config(Context& ctx, const ConfigArgs& args) {
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  auto recorded = recorded_settings(**settings);
  if (!recorded.ok()) return recorded.status();
  auto effective = effective_settings(settings_table(), ctx.flags, process_env(), *recorded);
  if (!effective.ok()) return effective.status();
  if (ctx.json) {
    print_json(config_json(*effective, args.non_default));
  } else {
    for (const auto& line : config_lines(*effective, args.non_default)) print_data(line);
  }
  struct stat st;
  const std::string& db = (*settings)->db;
  if (is_local_database(db) && ::stat(db.c_str(), &st) != 0 && errno == ENOENT) {
    return Status(Code::kNoInput, db + ": no such database (`vmail db migrate` creates it); the values above are " +
                                      "flags, environment and defaults");
  }
  return Status::Ok();
}

}  // namespace

void add_config_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("config", "print every setting, its value and where it came from (like postconf)");
  auto* args = ctx.keep<ConfigArgs>();
  cmd->add_flag("-n", args->non_default, "only the settings not at their default");
  cmd->callback([&ctx, args] { ctx.action = [&ctx, args] { return config(ctx, *args); }; });
}

}  // namespace vmail::cli
