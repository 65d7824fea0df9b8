// `vmail db status|migrate|backup|check|migrate-to`: database upkeep.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/app.h"
#include "core/files.h"
#include "pg/migrate_to.h"
#include "pg/replica.h"
#include "pg/schema.h"
#include "pg/url.h"

namespace vmail::cli {
namespace {

using json = nlohmann::ordered_json;

// Read-only: reports on the database without creating or migrating it, and
// says so (exit 66, as `getent`) when there is none. With a PostgreSQL
// VMAIL_DB it reports on the node's replica and, when it can be reached, how
// far the shared store is ahead; an unreachable one is reported, not an error.
Status db_status(Context& ctx) {
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  auto db = Database::open((*settings)->db, Database::Mode::kReadOnly);
  if (!db.ok()) return db.status();
  int version = (*db)->version();
  int latest = Database::latest();
  json out{{"version", version}, {"latest", latest}, {"pending", latest - version}};
  std::vector<std::string> lines = {"database: " + (*settings)->db, "version " + std::to_string(version) + ", latest " +
                                                                        std::to_string(latest) + ", " +
                                                                        std::to_string(latest - version) + " pending"};
  if (!(*settings)->upstream.empty()) {
    auto seq = version >= 7 ? pg::replica_seq(**db) : Result<int64_t>(int64_t{0});
    if (!seq.ok()) return seq.status();
    json upstream{{"server", pg::describe_url((*settings)->upstream)}, {"replica_seq", *seq}};
    std::string line = "shared store: PostgreSQL " + pg::describe_url((*settings)->upstream) + "; replica at change " +
                       std::to_string(*seq);
    auto conn = pg::Connection::open(**settings);
    auto head = conn.ok() ? pg::change_log_head(**conn) : Result<pg::ChangeLogHead>(conn.status());
    if (head.ok()) {
      upstream["reachable"] = true;
      upstream["seq"] = head->seq;
      upstream["log_oldest_seq"] = head->oldest_seq;
      upstream["log_entries"] = head->entries;
      std::string log = head->entries == 0 ? "empty"
                                           : "keeps " + std::to_string(head->entries) + " from change " +
                                                 std::to_string(head->oldest_seq);
      line += ", shared store at " + std::to_string(head->seq) + " (change log " + log + ", pruned after " +
              std::to_string(pg::kChangeLogDays) + " days)";
    } else {
      upstream["reachable"] = false;
      upstream["error"] = head.status().message();
      line += "; " + head.status().message();
    }
    out["upstream"] = upstream;
    lines.push_back(line);
  }
  if (ctx.json) {
    print_json(out);
  } else {
    for (const auto& line : lines) print_data(line);
  }
  return Status::Ok();
}

Status db_migrate(Context& ctx) {
  auto db = ctx.database();
  if (!db.ok()) return db.status();
  print_line(ctx, "database at version " + std::to_string((*db)->version()));
  return Status::Ok();
}

// Copies the database as it is: never creates or migrates it, so "back up
// before upgrading" keeps the old schema. Refuses (73) to replace an
// existing FILE unless `force`. With a PostgreSQL VMAIL_DB it copies the
// node's replica, brought up to date.
Status db_backup(Context& ctx, const std::string& target_in, bool force) {
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  std::string target = absolute_path(target_in);
  if (!force && file_exists(target)) {
    return Status(Code::kCantCreate, target + ": exists; `vmail db backup --force` replaces it");
  }
  std::unique_ptr<Database> opened;
  Database* db = nullptr;
  if ((*settings)->upstream.empty()) {
    auto local = Database::open((*settings)->db, Database::Mode::kReadOnly);
    if (!local.ok()) return local.status();
    opened = std::move(*local);
    db = opened.get();
  } else {
    auto replica = ctx.database();
    if (!replica.ok()) return replica.status();
    db = *replica;
  }
  if (Status s = db->backup_to(target, force); !s.ok()) return s;
  print_line(
      ctx, "backup of " + db->path() + " (schema version " + std::to_string(db->version()) + ") written to " + target);
  return Status::Ok();
}

Status db_check(Context& ctx) {
  auto db = ctx.database();
  if (!db.ok()) return db.status();
  auto problems = (*db)->problems();
  if (!problems.ok()) return problems.status();
  if (problems->empty()) {
    print_line(ctx, "database ok");
    return Status::Ok();
  }
  for (const auto& p : *problems) std::printf("%s\n", p.c_str());
  return Status(Code::kBadInput, (*db)->path() + ": " + std::to_string(problems->size()) + " problems found");
}

// Copies this node's SQLite store into an empty PostgreSQL store, verified
// row for row; this node's own file is left as it was.
Status db_migrate_to(Context& ctx, const std::string& url) {
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  if (!(*settings)->upstream.empty()) {
    return Status(Code::kUsage,
                  "db migrate-to: VMAIL_DB is PostgreSQL already; run it on the node with the SQLite store");
  }
  if (!is_postgres_url(url)) {
    // Not quoted: a URL of another kind may still hold a password.
    return Status(Code::kUsage, "db migrate-to: URL: not a postgresql:// URL");
  }
  if (Status s = pg::check_url(url, "db migrate-to URL"); !s.ok()) return s;
  auto db = ctx.database();
  if (!db.ok()) return db.status();
  auto conn = pg::Connection::open(url, (*settings)->db_password_file);
  if (!conn.ok()) return conn.status();
  if (Status s = pg::migrate(**conn); !s.ok()) return s;
  DkimKeyFiles key_files = dkim_key_files(**settings, process_env());
  auto report = pg::migrate_to(**db, **conn, &key_files);
  if (!report.ok()) return report.status();
  if (ctx.json) {
    json copied = json::object();
    for (const auto& [table, rows] : report->copied) copied[table] = rows;
    print_json(json{{"target", (*conn)->name()}, {"cluster", report->cluster}, {"copied", copied}});
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows = {{"TABLE", "ROWS"}};
  for (const auto& [table, n] : report->copied) rows.push_back({table, std::to_string(n)});
  if (!ctx.quiet) print_table(rows);  // a report of the copy, not data asked for
  print_line(ctx, "copied to " + (*conn)->name() + " and verified row for row (cluster " + report->cluster + ")");
  print_line(ctx, "next: on every node set VMAIL_DB=" + url + " (password in VMAIL_DB_PASSWORD_FILE or PGPASSFILE); " +
                      (*db)->path() + " stays as it was");
  return Status::Ok();
}

}  // namespace

void add_db_commands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("db", "database upkeep")->require_subcommand(1);
  group->add_subcommand("status", "schema version and pending migrations")->callback([&ctx] {
    ctx.action = [&ctx] { return db_status(ctx); };
  });
  group->add_subcommand("migrate", "apply pending migrations")->callback([&ctx] {
    ctx.action = [&ctx] { return db_migrate(ctx); };
  });
  {
    auto* cmd = group->add_subcommand("backup", "consistent copy while others write");
    auto* file = ctx.keep<std::string>();
    auto* force = ctx.keep<bool>(false);
    cmd->add_option("FILE", *file)->required();
    cmd->add_flag("--force", *force, "replace FILE when it exists");
    cmd->callback([&ctx, file, force] { ctx.action = [&ctx, file, force] { return db_backup(ctx, *file, *force); }; });
  }
  group->add_subcommand("check", "integrity and foreign key check")->callback([&ctx] {
    ctx.action = [&ctx] { return db_check(ctx); };
  });
  {
    auto* cmd = group->add_subcommand("migrate-to", "copy this SQLite store into an empty PostgreSQL store");
    auto* url = ctx.keep<std::string>();
    cmd->add_option("URL", *url, "postgresql://user@host:port/dbname (no password)")->required();
    cmd->callback([&ctx, url] { ctx.action = [&ctx, url] { return db_migrate_to(ctx, *url); }; });
  }
}

}  // namespace vmail::cli
