// `vmail alias add|del|list` (and `alias import`, registered from
// import_command.cc).
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/app.h"
#include "core/validate.h"

namespace vmail::cli {
namespace {

using json = nlohmann::ordered_json;

std::string source_text(const Address& a) { return a.local.empty() ? "@" + a.domain : a.str(); }

std::string join_commas(const std::vector<std::string>& items) {
  std::string joined;
  for (const auto& item : items) joined += (joined.empty() ? "" : ",") + item;
  return joined;
}

Status alias_add(Context& ctx, const std::string& source_in, const std::vector<std::string>& dest_args) {
  auto source = parse_alias_source(source_in);
  if (!source.ok()) return source.status();
  auto dests = parse_destination_args(dest_args, source_text(*source));
  if (!dests.ok()) return dests.status();
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  if (Status s = store->add_alias(*source, *dests); !s.ok()) return s;
  print_line(ctx, "alias " + source_text(*source) + " -> " + join_commas(*dests) + " added");
  return ctx.export_after_change();
}

Status alias_del(Context& ctx, const std::string& source_in, const std::string& dest_in) {
  auto source = parse_alias_source(source_in);
  if (!source.ok()) return source.status();
  std::optional<std::string> dest;
  if (!dest_in.empty()) {
    auto d = parse_address(dest_in, "destination");
    if (!d.ok()) return d.status();
    dest = d->str();
  }
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  if (Status s = store->delete_alias(source_text(*source), dest); !s.ok()) return s;
  print_line(ctx, dest ? "destination " + *dest + " removed from " + source_text(*source)
                       : "alias " + source_text(*source) + " deleted");
  return ctx.export_after_change();
}

Status alias_list(Context& ctx, const std::string& domain_in) {
  auto domain = domain_filter(domain_in);
  if (!domain.ok()) return domain.status();
  auto store = ctx.reading_store();
  if (!store.ok()) return store.status();
  auto aliases = store->list_aliases(*domain);
  if (!aliases.ok()) return aliases.status();
  if (ctx.json) {
    json out = json::array();
    for (const auto& a : *aliases) out.push_back(json{{"source", a.source}, {"destinations", a.destinations}});
    print_json(out);
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows = {{"SOURCE", "DESTINATIONS"}};
  for (const auto& a : *aliases) rows.push_back({a.source, join_commas(a.destinations)});
  print_table(rows);
  return Status::Ok();
}

}  // namespace

void add_alias_commands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("alias", "aliases and catch-alls")->require_subcommand(1);
  {
    auto* cmd = group->add_subcommand("add", "add an alias (SOURCE @domain is a catch-all)");
    auto* a = ctx.keep<std::pair<std::string, std::vector<std::string>>>();
    cmd->add_option("SOURCE", a->first)->required();
    cmd->add_option("DEST", a->second, "DEST[,DEST...]")->required();
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return alias_add(ctx, a->first, a->second); }; });
  }
  {
    auto* cmd = group->add_subcommand("del", "delete an alias, or one of its destinations");
    auto* a = ctx.keep<std::pair<std::string, std::string>>();
    cmd->add_option("SOURCE", a->first)->required();
    cmd->add_option("DEST", a->second);
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return alias_del(ctx, a->first, a->second); }; });
  }
  {
    auto* cmd = group->add_subcommand("list", "list aliases");
    auto* domain = ctx.keep<std::string>();
    cmd->add_option("DOMAIN", *domain);
    cmd->callback([&ctx, domain] { ctx.action = [&ctx, domain] { return alias_list(ctx, *domain); }; });
  }
  add_import_command(*group, ctx, ImportKind::kAliases);
}

}  // namespace vmail::cli
