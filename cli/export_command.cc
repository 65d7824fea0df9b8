// `vmail export [--check]`: regenerate (or compare) the files Postfix and
// Dovecot read.
#include <cstdio>

#include "cli/app.h"
#include "exporters/export.h"

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
  auto db = ctx.database();
  if (!db.ok()) return db.status();
  auto settings = ctx.settings();
  if (check) return export_check(ctx, **db, **settings);
  auto report = export_all(**db, **settings);
  if (!report.ok()) return report.status();
  for (const auto& path : report->written) print_line(ctx, "wrote " + path);
  if (report->written.empty()) print_line(ctx, "exported files already up to date");
  return Status::Ok();
}

}  // namespace

void add_export_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("export", "regenerate the files Postfix and Dovecot read");
  auto* check = ctx.keep<bool>(false);
  cmd->add_flag("--check", *check, "exit 1 and name the files out of sync");
  cmd->callback([&ctx, check] { ctx.action = [&ctx, check] { return export_files(ctx, *check); }; });
}

}  // namespace vmail::cli
