// What `domain del` and `user del` remove: listed by --dry-run, and asked
// about on a terminal before --purge removes mail for good (SPEC
// "Destructive commands").
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "cli/app.h"
#include "core/files.h"

namespace vmail::cli {
namespace {

using json = nlohmann::ordered_json;

std::vector<std::vector<std::string>> plan_rows(const DeletionPlan& plan) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : plan.domains) rows.push_back({"domain", d});
  for (const auto& d : plan.alias_domains) rows.push_back({"alias domain", d});
  for (const auto& u : plan.users) rows.push_back({"user", u});
  for (const auto& a : plan.aliases) rows.push_back({"alias", a});
  for (const auto& k : plan.dkim_keys) {
    rows.push_back(
        {"DKIM key", k.selector + " (" + std::string(dkim_algorithm_name(k.algorithm)) + ") of " + k.domain});
  }
  for (const auto& m : plan.maildirs) rows.push_back({"maildir", m});
  return rows;
}

}  // namespace

void add_maildir(DeletionPlan& plan, const std::string& path) {
  if (file_exists(path)) plan.maildirs.push_back(path);
}

Status print_plan(Context& ctx, const DeletionPlan& plan) {
  if (ctx.json) {
    json keys = json::array();
    for (const auto& k : plan.dkim_keys) {
      keys.push_back(
          json{{"domain", k.domain}, {"selector", k.selector}, {"algorithm", dkim_algorithm_name(k.algorithm)}});
    }
    print_json(json{{"domains", plan.domains},
                    {"alias_domains", plan.alias_domains},
                    {"users", plan.users},
                    {"aliases", plan.aliases},
                    {"dkim_keys", keys},
                    {"maildirs", plan.maildirs}});
    return Status::Ok();
  }
  print_line(ctx, "dry run: would remove");
  print_table(plan_rows(plan));
  print_line(ctx, "dry run: nothing changed");
  return Status::Ok();
}

Status confirm_purge(const std::string& command, const DeletionPlan& plan, bool yes) {
  if (yes) return Status::Ok();
  if (!isatty(STDIN_FILENO)) {
    return Status(Code::kUsage, command +
                                    " --purge: removes mail for good and there is no terminal to ask on; "
                                    "add --yes (or see what would go with --dry-run)");
  }
  FILE* tty = std::fopen("/dev/tty", "r+");
  if (tty == nullptr) return Status(Code::kUsage, command + " --purge: cannot open the terminal to ask; add --yes");
  std::fprintf(tty, "%s --purge removes for good:\n", command.c_str());
  for (const auto& row : plan_rows(plan)) std::fprintf(tty, "  %s %s\n", row[0].c_str(), row[1].c_str());
  std::fprintf(tty, "Remove? [y/N] ");
  std::fflush(tty);
  std::string answer;
  for (int c; (c = std::fgetc(tty)) != EOF && c != '\n';) {
    if (answer.size() < 16) answer += static_cast<char>(std::tolower(c));
  }
  std::fclose(tty);
  if (answer == "y" || answer == "yes") return Status::Ok();
  return Status(Code::kUsage, command + " --purge: not confirmed; nothing changed");
}

}  // namespace vmail::cli
