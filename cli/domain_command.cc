// `vmail domain add|del|list|alias`; `dkim` and `dns` are in dkim_command.cc.
#include <string>
#include <utility>
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
  auto keys = new_keys_for_domain(ctx);
  if (!keys.ok()) return keys.status();
  if (Status s = store->add_domain(*domain, &*keys); !s.ok()) return s;
  print_line(ctx, "domain " + *domain + " added");
  return ctx.export_after_change();
}

struct DomainDelArgs {
  std::string domain;
  bool force = false;
  bool purge = false;
  bool yes = false;
  bool dry_run = false;
};

// What `domain del` would remove, refused as Store::delete_domain refuses.
Result<DeletionPlan> domain_del_plan(Context& ctx, Store& store, const std::string& domain, const DomainDelArgs& a) {
  DeletionPlan plan;
  auto users = store.list_users(domain);
  if (!users.ok()) return users.status();
  auto aliases = store.list_aliases(domain);
  if (!aliases.ok()) return aliases.status();
  auto alias_domains = store.list_alias_domains();
  if (!alias_domains.ok()) return alias_domains.status();
  plan.domains = {domain};
  for (const auto& u : *users) plan.users.push_back(u.address);
  for (const auto& al : *aliases) plan.aliases.push_back(al.source);
  for (const auto& ad : *alias_domains) {
    if (ad.target == domain) plan.alias_domains.push_back(ad.alias);
  }
  if (!a.force && (!plan.users.empty() || !plan.aliases.empty())) {
    return Status(Code::kBadInput, "domain " + quote(domain) + ": in use by " + std::to_string(plan.users.size()) +
                                       " users and " + std::to_string(plan.aliases.size()) + " aliases (use --force)");
  }
  if (!a.force && !plan.alias_domains.empty()) {
    return Status(Code::kBadInput, "domain " + quote(domain) + ": target of the alias domain " +
                                       quote(plan.alias_domains.front()) + " (use --force to delete both)");
  }
  // Its keys and those of its alias domains (each its own DKIM d=) go with them.
  std::vector<std::string> with_keys = plan.domains;
  with_keys.insert(with_keys.end(), plan.alias_domains.begin(), plan.alias_domains.end());
  for (const auto& d : with_keys) {
    auto keys = store.list_dkim_keys(d);
    if (!keys.ok()) return keys.status();
    plan.dkim_keys.insert(plan.dkim_keys.end(), keys->begin(), keys->end());
  }
  if (a.purge) add_maildir(plan, (*ctx.settings())->mail_dir + "/" + domain);
  return plan;
}

Status domain_del(Context& ctx, const DomainDelArgs& a) {
  auto domain = normalize_domain(a.domain);
  if (!domain.ok()) return domain.status();
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  bool force = a.force;
  bool purge = a.purge;
  if (a.dry_run || purge) {
    auto plan = domain_del_plan(ctx, *store, *domain, a);
    if (!plan.ok()) return plan.status();
    if (a.dry_run) return print_plan(ctx, *plan);
    if (Status s = confirm_purge("domain del", *plan, a.yes); !s.ok()) return s;
  }
  std::vector<User> removed;
  if (Status s = store->delete_domain(*domain, force, &removed); !s.ok()) return s;
  print_line(ctx, "domain " + *domain + " deleted" +
                      (removed.empty() ? "" : " with its " + std::to_string(removed.size()) + " users"));
  Status exported = ctx.export_after_change();
  // Its DKIM private keys go once the exported KeyTable no longer names them.
  if (exported.ok()) {
    if (Status s = sweep_key_files(ctx, *store); !s.ok()) return s;
  }
  if (purge) {
    auto settings = ctx.settings();
    if (Status s = purge_maildir((*settings)->mail_dir, *domain, ""); !s.ok()) return s;
  }
  return exported;
}

Status domain_list(Context& ctx) {
  auto store = ctx.reading_store();
  if (!store.ok()) return store.status();
  auto domains = store->list_domains();
  if (!domains.ok()) return domains.status();
  if (ctx.json) {
    json out = json::array();
    for (const auto& d : *domains) {
      out.push_back(json{{"name", d.name},
                         {"users", d.users},
                         {"aliases", d.aliases},
                         {"alias_of", d.alias_of ? json(*d.alias_of) : json(nullptr)}});
    }
    print_json(out);
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows = {{"DOMAIN", "USERS", "ALIASES", "ALIAS OF"}};
  for (const auto& d : *domains) {
    rows.push_back({d.name, std::to_string(d.users), std::to_string(d.aliases), d.alias_of.value_or("-")});
  }
  print_table(rows);
  return Status::Ok();
}

// `domain alias add ALIAS TARGET`: every address of TARGET answers at ALIAS.
Status domain_alias_add(Context& ctx, const std::string& alias_in, const std::string& target_in) {
  auto alias = normalize_domain(alias_in, "alias");
  if (!alias.ok()) return alias.status();
  auto target = normalize_domain(target_in, "target");
  if (!target.ok()) return target.status();
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  auto keys = new_keys_for_domain(ctx);
  if (!keys.ok()) return keys.status();
  if (Status s = store->add_alias_domain(*alias, *target, &*keys); !s.ok()) return s;
  print_line(ctx, "alias domain " + *alias + " -> " + *target + " added");
  return ctx.export_after_change();
}

Status domain_alias_del(Context& ctx, const std::string& alias_in) {
  auto alias = normalize_domain(alias_in, "alias");
  if (!alias.ok()) return alias.status();
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  if (Status s = store->delete_alias_domain(*alias); !s.ok()) return s;
  print_line(ctx, "alias domain " + *alias + " deleted");
  Status exported = ctx.export_after_change();
  if (!exported.ok()) return exported;
  return sweep_key_files(ctx, *store);
}

void add_domain_alias_commands(CLI::App& group, Context& ctx) {
  auto* aliases =
      group.add_subcommand("alias", "alias domains: every address of TARGET answers at ALIAS")->require_subcommand(1);
  {
    auto* cmd = aliases->add_subcommand("add", "make ALIAS an alias domain of TARGET");
    auto* a = ctx.keep<std::pair<std::string, std::string>>();
    cmd->add_option("ALIAS", a->first)->required();
    cmd->add_option("TARGET", a->second)->required();
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return domain_alias_add(ctx, a->first, a->second); }; });
  }
  {
    auto* cmd = aliases->add_subcommand("del", "delete the alias domain ALIAS");
    auto* alias = ctx.keep<std::string>();
    cmd->add_option("ALIAS", *alias)->required();
    cmd->callback([&ctx, alias] { ctx.action = [&ctx, alias] { return domain_alias_del(ctx, *alias); }; });
  }
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
    auto* a = ctx.keep<DomainDelArgs>();
    cmd->add_option("DOMAIN", a->domain)->required();
    cmd->add_flag("--force", a->force, "also delete its users and aliases, and its alias domains");
    cmd->add_flag("--purge", a->purge, "also remove its maildirs (asks on a terminal)");
    cmd->add_flag("--yes", a->yes, "remove without asking (needed for --purge without a terminal)");
    cmd->add_flag("--dry-run", a->dry_run, "list what would go and change nothing");
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return domain_del(ctx, *a); }; });
  }
  {
    auto* cmd = group->add_subcommand("list", "list domains");
    cmd->callback([&ctx] { ctx.action = [&ctx] { return domain_list(ctx); }; });
  }
  add_domain_alias_commands(*group, ctx);
  add_domain_dkim_commands(*group, ctx);
}

}  // namespace vmail::cli
