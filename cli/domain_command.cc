// `vmail domain add|del|list`.
#include <string>
#include <vector>

#include "cli/app.h"
#include "core/maildir.h"
#include "core/validate.h"

namespace vmail::cli {
namespace {

using json = nlohmann::ordered_json;

Status domain_add(Context& ctx, const std::string& input) {
  auto domain = normalize_domain(input);
  if (!domain.ok()) return domain.status();
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  if (Status s = store->add_domain(*domain); !s.ok()) return s;
  print_line(ctx, "domain " + *domain + " added");
  return ctx.export_after_change();
}

Status domain_del(Context& ctx, const std::string& input, bool force, bool purge) {
  auto domain = normalize_domain(input);
  if (!domain.ok()) return domain.status();
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  std::vector<User> removed;
  if (Status s = store->delete_domain(*domain, force, &removed); !s.ok()) return s;
  print_line(ctx, "domain " + *domain + " deleted" +
                      (removed.empty() ? "" : " with its " + std::to_string(removed.size()) + " users"));
  Status exported = ctx.export_after_change();
  if (purge) {
    auto settings = ctx.settings();
    if (Status s = purge_maildir((*settings)->mail_dir, *domain, ""); !s.ok()) return s;
  }
  return exported;
}

Status domain_list(Context& ctx) {
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  auto domains = store->list_domains();
  if (!domains.ok()) return domains.status();
  if (ctx.json) {
    json out = json::array();
    for (const auto& d : *domains) out.push_back(json{{"name", d.name}, {"users", d.users}, {"aliases", d.aliases}});
    print_json(out);
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows = {{"DOMAIN", "USERS", "ALIASES"}};
  for (const auto& d : *domains) rows.push_back({d.name, std::to_string(d.users), std::to_string(d.aliases)});
  print_table(ctx, rows);
  return Status::Ok();
}

}  // namespace

void add_domain_commands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("domain", "mail domains")->require_subcommand(1);
  {
    auto* cmd = group->add_subcommand("add", "add a domain");
    auto* domain = ctx.keep<std::string>();
    cmd->add_option("DOMAIN", *domain)->required();
    cmd->callback([&ctx, domain] { ctx.action = [&ctx, domain] { return domain_add(ctx, *domain); }; });
  }
  {
    auto* cmd = group->add_subcommand("del", "delete a domain (refused while in use unless --force)");
    struct Args {
      std::string domain;
      bool force = false;
      bool purge = false;
    };
    auto* a = ctx.keep<Args>();
    cmd->add_option("DOMAIN", a->domain)->required();
    cmd->add_flag("--force", a->force, "also delete its users and aliases");
    cmd->add_flag("--purge", a->purge, "also remove its maildirs");
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return domain_del(ctx, a->domain, a->force, a->purge); }; });
  }
  {
    auto* cmd = group->add_subcommand("list", "list domains");
    cmd->callback([&ctx] { ctx.action = [&ctx] { return domain_list(ctx); }; });
  }
}

}  // namespace vmail::cli
