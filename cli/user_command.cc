// `vmail user add|del|passwd|disable|enable|quota|limit|list|show|forward` (and
// `user import`, registered from import_command.cc).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/app.h"
#include "cli/password_prompt.h"
#include "core/maildir.h"
#include "core/password.h"
#include "core/validate.h"

namespace vmail::cli {
namespace {

using json = nlohmann::ordered_json;

json user_json(const User& u) {
  return json{{"address", u.address}, {"domain", u.domain},
              {"name", u.name},       {"quota", u.quota ? json(*u.quota) : json(nullptr)},
              {"enabled", u.enabled}, {"created", u.created}};
}

json forward_json(const std::optional<Forward>& f) {
  if (!f) return json(nullptr);
  return json{{"destinations", f->destinations}, {"keep", f->keep}};
}

std::string forward_text(const std::optional<Forward>& f) {
  if (!f) return "no";
  std::string out;
  for (const std::string& d : f->destinations) out += (out.empty() ? "" : ",") + d;
  return out + (f->keep ? " (keeps a copy)" : "");
}

std::string quota_text(const std::optional<uint64_t>& q) { return q ? format_quota(*q) : "none"; }

// A user's recipients-per-hour limit as `user show` and `user limit` say it.
std::string send_limit_text(const std::optional<int64_t>& own, int64_t default_limit) {
  if (!own) return "default (" + std::to_string(default_limit) + "/hour)";
  return *own == 0 ? "none" : std::to_string(*own) + "/hour";
}

// `--per-hour N|none|default`: nullopt = default, 0 = none, N = 1-100000000.
Result<std::optional<int64_t>> parse_per_hour(const std::string& text) {
  if (text == "default") return std::optional<int64_t>();
  if (text == "none") return std::optional<int64_t>(0);
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos || text[0] == '0') {
    return Status(Code::kBadInput, "--per-hour " + quote(text) + ": not a number of recipients, none or default");
  }
  int64_t n = std::stoll(text);
  if (n > 100000000) return Status(Code::kBadInput, "--per-hour " + quote(text) + ": at most 100000000");
  return std::optional<int64_t>(n);
}

struct PasswordArgs {
  bool from_stdin = false;
  bool hash_from_stdin = false;
  std::string hash;
  CLI::Option* hash_option = nullptr;
};

void add_password_options(CLI::App* cmd, PasswordArgs& args) {
  auto* in = cmd->add_flag("--password-stdin", args.from_stdin, "read the password as one line from standard input");
  args.hash_option = cmd->add_option("--hash", args.hash, "a ready hash, {SCHEME}...")->excludes(in);
  cmd->add_flag("--hash-stdin", args.hash_from_stdin,
                "read a ready hash, {SCHEME}..., as one line from standard input (kept out of the process list)")
      ->excludes(in)
      ->excludes(args.hash_option);
}

// Turns the password options into a stored `{SCHEME}hash`.
Result<std::string> password_hash(Context& ctx, const PasswordArgs& args) {
  if (args.hash_option->count() > 0) {
    if (Status s = check_hash(args.hash, "--hash"); !s.ok()) return s;
    return args.hash;
  }
  if (args.hash_from_stdin) {
    auto hash = read_stdin_line("--hash-stdin", kMaxSecretLine);
    if (!hash.ok()) return hash.status();
    if (Status s = check_hash(*hash, "--hash-stdin"); !s.ok()) return s;
    return *hash;
  }
  auto password = read_password(args.from_stdin);
  if (!password.ok()) return password.status();
  if (Status s = check_password(*password); !s.ok()) return s;
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  return hash_password(*password, (*settings)->scheme);
}

struct UserAddArgs {
  std::string address;
  PasswordArgs password;
  std::string quota;
  CLI::Option* quota_option = nullptr;
  std::string name;
  bool reuse_maildir = false;
};

// A maildir left by a deleted user (`user del` without --purge) is not handed
// to a new user of the same address unless asked for; one with a symlink
// where a folder would be (73) never is. The rule is the import's too
// (core/maildir leftover_holds_mail).
Status check_leftover_maildir(const Settings& settings, const Address& address, bool reuse) {
  auto has_mail = maildir_holds_mail(settings.mail_dir, address.domain, address.local);
  if (!has_mail.ok()) return has_mail.status();
  if (!*has_mail || reuse) return Status::Ok();
  return Status(Code::kBadInput, "address " + quote(address.str()) + ": its maildir " + settings.mail_dir + "/" +
                                     address.domain + "/" + address.local +
                                     " still holds mail of an earlier user; use --reuse-maildir to give it "
                                     "to the new user, or remove it");
}

Status user_add(Context& ctx, const UserAddArgs& args) {
  auto address = parse_address(args.address);
  if (!address.ok()) return address.status();
  if (Status s = check_display_name(args.name); !s.ok()) return s;
  std::optional<uint64_t> quota;
  if (args.quota_option->count() > 0) {
    auto q = parse_quota(args.quota);
    if (!q.ok()) return q.status();
    quota = *q;
  }
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  // Refuse what add_user would (an unknown domain, an existing address)
  // before asking for a password.
  if (Status s = store->check_new_user(*address); !s.ok()) return s;
  if (Status s = check_leftover_maildir(**settings, *address, args.reuse_maildir); !s.ok()) return s;
  auto hash = password_hash(ctx, args.password);
  if (!hash.ok()) return hash.status();
  User user;
  user.address = address->str();
  user.local = address->local;
  user.domain = address->domain;
  user.name = args.name;
  user.password = *hash;
  user.quota = quota;
  const Settings& s = **settings;
  Status added = store->add_user(user, [&](const User& u) {
    // Again inside the transaction: mail may have arrived while the password was read.
    if (Status left = check_leftover_maildir(s, *address, args.reuse_maildir); !left.ok()) return left;
    return create_maildir(s.mail_dir, u.domain, u.local, s.uid, s.gid);
  });
  if (!added.ok()) return added;
  print_line(ctx, "user " + user.address + " added");
  return ctx.export_after_change();
}

struct UserDelArgs {
  std::string address;
  bool purge = false;
  bool yes = false;
  bool dry_run = false;
};

Status user_del(Context& ctx, const UserDelArgs& args) {
  auto address = parse_address(args.address);
  if (!address.ok()) return address.status();
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  bool purge = args.purge;
  if (args.dry_run || purge) {
    auto user = store->get_user(address->str());
    if (!user.ok()) return user.status();
    DeletionPlan plan;
    plan.users = {user->address};
    if (purge) add_maildir(plan, (*ctx.settings())->mail_dir + "/" + user->domain + "/" + user->local);
    if (args.dry_run) return print_plan(ctx, plan);
    if (Status s = confirm_purge("user del", plan, args.yes); !s.ok()) return s;
  }
  User removed;
  if (Status s = store->delete_user(address->str(), &removed); !s.ok()) return s;
  print_line(ctx, "user " + removed.address + " deleted");
  Status exported = ctx.export_after_change();
  if (purge) {
    auto settings = ctx.settings();
    if (Status s = purge_maildir((*settings)->mail_dir, removed.domain, removed.local); !s.ok()) return s;
  }
  return exported;
}

Status user_passwd(Context& ctx, const std::string& input, const PasswordArgs& args) {
  auto address = parse_address(input);
  if (!address.ok()) return address.status();
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  if (auto u = store->get_user(address->str()); !u.ok()) return u.status();
  auto hash = password_hash(ctx, args);
  if (!hash.ok()) return hash.status();
  if (Status s = store->set_password(address->str(), *hash); !s.ok()) return s;
  print_line(ctx, "password of " + address->str() + " changed");
  return ctx.export_after_change();
}

Status user_enable(Context& ctx, const std::string& input, bool enabled) {
  auto address = parse_address(input);
  if (!address.ok()) return address.status();
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  if (Status s = store->set_enabled(address->str(), enabled); !s.ok()) return s;
  print_line(ctx, "user " + address->str() + (enabled ? " enabled" : " disabled"));
  return ctx.export_after_change();
}

Status user_quota(Context& ctx, const std::string& input, const std::string& size) {
  auto address = parse_address(input);
  if (!address.ok()) return address.status();
  auto quota = parse_quota(size);
  if (!quota.ok()) return quota.status();
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  if (Status s = store->set_quota(address->str(), *quota); !s.ok()) return s;
  print_line(ctx, "quota of " + address->str() + " set to " + quota_text(*quota));
  return ctx.export_after_change();
}

Status user_limit(Context& ctx, const std::string& input, const std::string& per_hour) {
  auto address = parse_address(input);
  if (!address.ok()) return address.status();
  auto limit = parse_per_hour(per_hour);
  if (!limit.ok()) return limit.status();
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  if (Status s = store->set_send_limit(address->str(), *limit); !s.ok()) return s;
  print_line(ctx, "send limit of " + address->str() + " set to " + send_limit_text(*limit, (*settings)->send_limit));
  return Status::Ok();
}

Status user_list(Context& ctx, const std::string& domain_in) {
  auto domain = domain_filter(domain_in);
  if (!domain.ok()) return domain.status();
  auto store = ctx.reading_store();
  if (!store.ok()) return store.status();
  auto users = store->list_users(*domain);
  if (!users.ok()) return users.status();
  if (ctx.json) {
    json out = json::array();
    for (const auto& u : *users) out.push_back(user_json(u));
    print_json(out);
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows = {{"ADDRESS", "NAME", "QUOTA", "ENABLED", "CREATED"}};
  for (const auto& u : *users) {
    rows.push_back({u.address, u.name, quota_text(u.quota), u.enabled ? "yes" : "no", u.created});
  }
  print_table(rows);
  return Status::Ok();
}

Status user_show(Context& ctx, const std::string& input) {
  auto address = parse_address(input);
  if (!address.ok()) return address.status();
  auto store = ctx.reading_store();
  if (!store.ok()) return store.status();
  auto user = store->get_user(address->str());
  if (!user.ok()) return user.status();
  auto forward = store->get_forward(address->str());
  if (!forward.ok()) return forward.status();
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  json access = access_json(*store, user->address);
  json usage = mailbox_usage(**settings, user->address);
  json vacation = vacation_json(**settings, *user);
  if (ctx.json) {
    json out = user_json(*user);
    out["forward"] = forward_json(*forward);
    out["access"] = access;
    out["usage"] = usage;
    out["vacation"] = vacation;
    // As stored (null: VMAIL_SEND_LIMIT, 0: none) and in force.
    out["send_limit"] = user->send_limit ? json(*user->send_limit) : json(nullptr);
    out["send_limit_per_hour"] = !user->send_limit        ? json((*settings)->send_limit)
                                 : *user->send_limit == 0 ? json(nullptr)
                                                          : json(*user->send_limit);
    print_json(out);
    return Status::Ok();
  }
  std::string access_line;
  for (const auto& [service, on] : access.items()) {
    access_line += (access_line.empty() ? "" : " ") + service + "=" + (on.get<bool>() ? "on" : "off");
  }
  std::string usage_line = usage.is_null() ? "unknown (server not configured)"
                                           : format_quota(usage["storage"].get<uint64_t>()) + ", " +
                                                 std::to_string(usage["messages"].get<uint64_t>()) + " messages";
  print_table({{"address:", user->address},
               {"domain:", user->domain},
               {"name:", user->name},
               {"quota:", quota_text(user->quota)},
               {"enabled:", user->enabled ? "yes" : "no"},
               {"send limit:", send_limit_text(user->send_limit, (*settings)->send_limit)},
               {"access:", access_line},
               {"usage:", usage_line},
               {"created:", user->created},
               {"updated:", user->updated},
               {"maildir:", (*settings)->mail_dir + "/" + user->domain + "/" + user->local + "/Maildir"},
               {"forward:", forward_text(*forward)},
               {"vacation:", vacation_text(vacation)}});
  return Status::Ok();
}

// `user forward ADDRESS DEST[,DEST...] [--keep] | --off`.
struct ForwardArgs {
  std::string address;
  std::vector<std::string> destinations;
  bool keep = false;
  bool off = false;
};

Status user_forward(Context& ctx, const ForwardArgs& args) {
  auto address = parse_address(args.address);
  if (!address.ok()) return address.status();
  if (args.off == !args.destinations.empty()) {
    return Status(Code::kUsage, "forward: give DEST[,DEST...] or --off");
  }
  if (args.off && args.keep) return Status(Code::kUsage, "forward: --keep goes with destinations, not --off");
  auto dests = parse_destination_args(args.destinations, address->str());
  if (!dests.ok()) return dests.status();
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  if (args.off) {
    if (Status s = store->clear_forward(address->str()); !s.ok()) return s;
    print_line(ctx, "user " + address->str() + " no longer forwards");
  } else {
    if (Status s = store->set_forward(address->str(), *dests, args.keep); !s.ok()) return s;
    print_line(ctx, "user " + address->str() + " forwards to " + forward_text(Forward{"", *dests, args.keep}));
  }
  return ctx.export_after_change();
}

void add_user_forward_command(CLI::App& group, Context& ctx) {
  auto* cmd = group.add_subcommand("forward", "forward a mailbox's mail (--keep: a copy stays), or --off");
  auto* a = ctx.keep<ForwardArgs>();
  cmd->add_option("ADDRESS", a->address)->required();
  cmd->add_option("DEST", a->destinations, "DEST[,DEST...]");
  cmd->add_flag("--keep", a->keep, "keep a copy in the mailbox");
  cmd->add_flag("--off", a->off, "stop forwarding");
  cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return user_forward(ctx, *a); }; });
}

}  // namespace

void add_user_commands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("user", "mailboxes")->require_subcommand(1);
  {
    auto* cmd = group->add_subcommand("add", "add a mailbox");
    auto* a = ctx.keep<UserAddArgs>();
    cmd->add_option("ADDRESS", a->address)->required();
    add_password_options(cmd, a->password);
    a->quota_option = cmd->add_option("--quota", a->quota, "N[K|M|G|T] (N >= 1) or none");
    cmd->add_option("--name", a->name, "display name");
    cmd->add_flag("--reuse-maildir", a->reuse_maildir,
                  "give the new user the mail left in an existing maildir of this address (by default "
                  "`user add` refuses a maildir that still holds mail, e.g. after `user del` without --purge)");
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return user_add(ctx, *a); }; });
  }
  {
    auto* cmd = group->add_subcommand("del", "delete a mailbox");
    auto* a = ctx.keep<UserDelArgs>();
    cmd->add_option("ADDRESS", a->address)->required();
    cmd->add_flag("--purge", a->purge, "also remove the maildir (asks on a terminal)");
    cmd->add_flag("--yes", a->yes, "remove without asking (needed for --purge without a terminal)");
    cmd->add_flag("--dry-run", a->dry_run, "list what would go and change nothing");
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return user_del(ctx, *a); }; });
  }
  {
    auto* cmd = group->add_subcommand("passwd", "change a password");
    struct Args {
      std::string address;
      PasswordArgs password;
    };
    auto* a = ctx.keep<Args>();
    cmd->add_option("ADDRESS", a->address)->required();
    add_password_options(cmd, a->password);
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return user_passwd(ctx, a->address, a->password); }; });
  }
  for (bool enable : {false, true}) {
    auto* cmd = group->add_subcommand(enable ? "enable" : "disable",
                                      enable ? "allow logins again" : "refuse logins (mail is still received)");
    auto* address = ctx.keep<std::string>();
    cmd->add_option("ADDRESS", *address)->required();
    cmd->callback([&ctx, address, enable] {
      ctx.action = [&ctx, address, enable] { return user_enable(ctx, *address, enable); };
    });
  }
  {
    auto* cmd = group->add_subcommand("quota", "set or clear a quota");
    auto* a = ctx.keep<std::pair<std::string, std::string>>();
    cmd->add_option("ADDRESS", a->first)->required();
    cmd->add_option("SIZE", a->second, "N[K|M|G|T] (N >= 1) or none")->required();
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return user_quota(ctx, a->first, a->second); }; });
  }
  {
    auto* cmd = group->add_subcommand("limit", "set the recipients a mailbox may send to per hour");
    auto* a = ctx.keep<std::pair<std::string, std::string>>();
    cmd->add_option("ADDRESS", a->first)->required();
    cmd->add_option("--per-hour", a->second, "N (1-100000000), none, or default (VMAIL_SEND_LIMIT)")->required();
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return user_limit(ctx, a->first, a->second); }; });
  }
  {
    auto* cmd = group->add_subcommand("list", "list mailboxes");
    auto* domain = ctx.keep<std::string>();
    cmd->add_option("DOMAIN", *domain);
    cmd->callback([&ctx, domain] { ctx.action = [&ctx, domain] { return user_list(ctx, *domain); }; });
  }
  {
    auto* cmd = group->add_subcommand("show", "show one mailbox");
    auto* address = ctx.keep<std::string>();
    cmd->add_option("ADDRESS", *address)->required();
    cmd->callback([&ctx, address] { ctx.action = [&ctx, address] { return user_show(ctx, *address); }; });
  }
  add_user_forward_command(*group, ctx);
  add_user_feature_commands(*group, ctx);
  add_import_command(*group, ctx, ImportKind::kUsers);
}

}  // namespace vmail::cli
