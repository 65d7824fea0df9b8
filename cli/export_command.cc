// `vmail export [--check]`: regenerate (or compare) the files Postfix and
// Dovecot read. `vmail export --follow [--config FILE]`: with a PostgreSQL
// VMAIL_DB, keep them following the shared store until SIGTERM/SIGINT
// (pg/follow.h); the launcher runs it as its `follower` daemon with the
// settings in FILE (it hands daemons no environment but PATH).
#include <signal.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>

#include "cli/app.h"
#include "core/files.h"
#include "exporters/export.h"
#include "pg/follow.h"

namespace vmail::cli {
namespace {

Status export_check(Context& ctx, Database& db, const Settings& settings) {
  auto stale = export_out_of_sync(db, settings);
  if (!stale.ok()) return stale.status();
  if (stale->empty()) {
    print_line(ctx, "exported files are in sync");
    return Status::Ok();
  }
  for (const auto& path : *stale) std::printf("out of sync: %s\n", path.c_str());
  return Status(Code::kUnhealthy, "");
}

Status export_files(Context& ctx, bool check) {
  // --check only reads: it never creates or migrates the database.
  auto db = check ? ctx.reading_database() : ctx.database();
  if (!db.ok()) return db.status();
  auto settings = ctx.settings();
  if (check) return export_check(ctx, **db, **settings);
  auto report = export_all(**db, **settings);
  if (!report.ok()) return report.status();
  for (const auto& path : report->written) print_line(ctx, "wrote " + path);
  if (report->written.empty()) print_line(ctx, "exported files already up to date");
  return Status::Ok();
}

volatile std::sig_atomic_t stop_requested = 0;

void on_stop_signal(int) { stop_requested = 1; }

// SIGTERM/SIGINT end the loop; without SA_RESTART they also cut its wait short.
void catch_stop_signals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

// The settings a follower's config file may set: the shared ones, by
// variable name (never a password: VMAIL_DB_PASSWORD_FILE names its file).
const std::vector<std::string> kConfigKeys = {"VMAIL_ROOT",
                                              "VMAIL_STATE_DIR",
                                              "VMAIL_DB",
                                              "VMAIL_DB_PASSWORD_FILE",
                                              "VMAIL_MAIL_DIR",
                                              "VMAIL_POSTFIX_DIR",
                                              "VMAIL_DOVECOT_DIR",
                                              "VMAIL_OPENDKIM_DIR",
                                              "VMAIL_UID",
                                              "VMAIL_GID",
                                              "VMAIL_PASSWORD_SCHEME",
                                              "VMAIL_MAP_TYPE"};

// Values from --config FILE for the settings no flag gave.
Status read_config(Context& ctx, const std::string& path) {
  // A settings file is a few lines; 64 KiB keeps a wrong path from being read whole.
  constexpr size_t kMaxConfigFile = 64 * 1024;
  auto text = read_file_limited(path, kMaxConfigFile);
  if (!text.ok() && text.status().code() == Code::kBadInput) return Status(Code::kConfig, text.status().message());
  if (!text.ok()) return Status(Code::kConfig, path + ": " + text.status().message());
  if (!*text) return Status(Code::kConfig, path + ": no such file");
  auto values = pg::parse_settings_file(path, **text, kConfigKeys);
  if (!values.ok()) return values.status();
  for (const auto& [name, value] : *values) {
    if (ctx.flags[name].empty()) ctx.flags[name] = value;
  }
  return Status::Ok();
}

Status export_follow(Context& ctx, bool check, const std::string& config) {
  if (check) return Status(Code::kUsage, "--follow and --check exclude each other");
  if (!config.empty()) {
    if (Status st = read_config(ctx, config); !st.ok()) return st;
  }
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  if ((*settings)->upstream.empty()) {
    return Status(Code::kUsage, "--follow: VMAIL_DB is not a PostgreSQL URL (a SQLite store has nothing to follow)");
  }
  catch_stop_signals();
  spdlog::info("following {} into {}", pg::describe_url((*settings)->upstream), (*settings)->db);
  auto exporter = [](Database& db, const Settings& s) {
    auto report = export_all(db, s);
    if (!report.ok()) return report.status();
    for (const auto& path : report->written) spdlog::info("exported {}", path);
    return Status::Ok();
  };
  Status st = pg::follow(**settings, exporter, [] { return stop_requested != 0; });
  if (st.ok()) spdlog::info("stopped");
  return st;
}

}  // namespace

void add_export_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("export", "regenerate the files Postfix and Dovecot read");
  auto* check = ctx.keep<bool>(false);
  cmd->add_flag("--check", *check, "exit 1 and name the files out of sync");
  auto* follow = ctx.keep<bool>(false);
  auto* config = ctx.keep<std::string>();
  cmd->add_flag("--follow", *follow,
                "with a PostgreSQL VMAIL_DB: keep exporting the changes of the shared store until SIGTERM");
  cmd->add_option("--config", *config, "with --follow: settings as KEY=VALUE lines (VMAIL_DB, VMAIL_ROOT, ...)")
      ->needs("--follow");
  cmd->callback([&ctx, check, follow, config] {
    ctx.action = [&ctx, check, follow, config] {
      return *follow ? export_follow(ctx, *check, *config) : export_files(ctx, *check);
    };
  });
}

}  // namespace vmail::cli
