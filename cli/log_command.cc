// `vmail log [--since TIME] [--limit N] [--json]`: the audit log, newest first
// (core/audit.h).
#include <ctime>
#include <string>
#include <vector>

#include "cli/app.h"
#include "core/audit.h"

namespace vmail::cli {
namespace {

using json = nlohmann::ordered_json;

struct LogArgs {
  std::string since;
  size_t limit = 50;
};

json value_json(const std::string& text) { return text.empty() ? json(nullptr) : json::parse(text); }

json entry_json(const AuditEntry& e) {
  return json{{"id", e.id},
              {"time", e.time},
              {"uid", e.uid},
              {"sudo_user", e.sudo_user.empty() ? json(nullptr) : json(e.sudo_user)},
              {"command", e.command},
              {"action", e.action},
              {"object", e.object},
              {"old", value_json(e.old_value)},
              {"new", value_json(e.new_value)}};
}

// A table cell stays on its line whatever a row read back holds.
std::string cell(const std::string& text) {
  std::string out = text;
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

std::string change_text(const AuditEntry& e) {
  return (e.old_value.empty() ? "-" : e.old_value) + " -> " + (e.new_value.empty() ? "-" : e.new_value);
}

Status show_log(Context& ctx, const LogArgs& args) {
  std::optional<std::string> since;
  if (!args.since.empty()) {
    auto t = parse_since(args.since, std::time(nullptr));
    if (!t.ok()) return t.status();
    since = *t;
  }
  auto db = ctx.reading_database();
  if (!db.ok()) return db.status();
  auto entries = read_audit_log(**db, since, args.limit);
  if (!entries.ok()) return entries.status();
  if (ctx.json) {
    json out = json::array();
    for (const auto& e : *entries) out.push_back(entry_json(e));
    print_json(out);
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows = {{"TIME", "UID", "SUDO_USER", "COMMAND", "OBJECT", "CHANGE"}};
  for (const auto& e : *entries) {
    rows.push_back({e.time, std::to_string(e.uid), e.sudo_user.empty() ? "-" : cell(e.sudo_user), cell(e.command),
                    cell(e.object), cell(change_text(e))});
  }
  print_table(rows);
  return Status::Ok();
}

}  // namespace

void add_log_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("log", "who changed what, when (newest first)");
  auto* a = ctx.keep<LogArgs>();
  cmd->add_option("--since", a->since, "UTC YYYY-MM-DD[THH:MM[:SS]], or a time ago: N s|m|h|d|w (e.g. 2d)");
  cmd->add_option("--limit", a->limit, "at most N entries (default 50)")->check(CLI::Range(size_t{1}, size_t{1000000}));
  cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return show_log(ctx, *a); }; });
}

}  // namespace vmail::cli
