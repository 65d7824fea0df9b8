// The domain, user, alias, export and db command groups.
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/app.h"
#include "exporters/export.h"
#include "core/files.h"
#include "core/maildir.h"
#include "core/password.h"
#include "core/store.h"
#include "core/validate.h"

namespace vmail::cli {
namespace {

using json = nlohmann::ordered_json;

void print_json(const json& value) { std::cout << value.dump(2) << '\n'; }

// Prints rows as left-aligned columns separated by two spaces.
void print_table(const Context& ctx, const std::vector<std::vector<std::string>>& rows) {
  if (ctx.quiet) return;
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << '\n';
  }
}

json user_json(const User& u) {
  return json{{"address", u.address}, {"domain", u.domain},
              {"name", u.name},       {"quota", u.quota ? json(*u.quota) : json(nullptr)},
              {"enabled", u.enabled}, {"created", u.created}};
}

json alias_json(const Alias& a) { return json{{"source", a.source}, {"destinations", a.destinations}}; }

std::string quota_text(const std::optional<uint64_t>& q) { return q ? format_quota(*q) : "none"; }

// Opens the database and returns a Store, or the Status why not.
#define VMAIL_OPEN_STORE(ctx, store)                \
  auto db_##store = (ctx).database();               \
  if (!db_##store.ok()) return db_##store.status(); \
  Store store(**db_##store)

// Domain -----------------------------------------------------------------

Status domain_add(Context& ctx, const std::string& input) {
  auto domain = normalize_domain(input);
  if (!domain.ok()) return domain.status();
  VMAIL_OPEN_STORE(ctx, store);
  if (Status s = store.add_domain(*domain); !s.ok()) return s;
  print_line(ctx, "domain " + *domain + " added");
  return ctx.export_after_change();
}

Status domain_del(Context& ctx, const std::string& input, bool force, bool purge) {
  auto domain = normalize_domain(input);
  if (!domain.ok()) return domain.status();
  VMAIL_OPEN_STORE(ctx, store);
  std::vector<User> removed;
  if (Status s = store.delete_domain(*domain, force, &removed); !s.ok()) return s;
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
  VMAIL_OPEN_STORE(ctx, store);
  auto domains = store.list_domains();
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

// User -------------------------------------------------------------------

struct PasswordArgs {
  bool from_stdin = false;
  std::string hash;
  CLI::Option* hash_option = nullptr;
};

void add_password_options(CLI::App* cmd, PasswordArgs& args) {
  auto* in = cmd->add_flag("--password-stdin", args.from_stdin, "read the password as one line from standard input");
  args.hash_option = cmd->add_option("--hash", args.hash, "a ready hash, {SCHEME}...")->excludes(in);
}

// Turns the password options into a stored `{SCHEME}hash`.
Result<std::string> password_hash(Context& ctx, const PasswordArgs& args) {
  if (args.hash_option->count() > 0) {
    if (Status s = check_hash(args.hash, "--hash"); !s.ok()) return s;
    return args.hash;
  }
  auto password = read_password(args.from_stdin);
  if (!password.ok()) return password.status();
  if (Status s = check_password(*password); !s.ok()) return s;
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  return hash_password(*password, (*settings)->scheme);
}

Result<Address> address_arg(const std::string& text) { return parse_address(text); }

struct UserAddArgs {
  std::string address;
  PasswordArgs password;
  std::string quota;
  CLI::Option* quota_option = nullptr;
  std::string name;
};

Status user_add(Context& ctx, const UserAddArgs& args) {
  auto address = address_arg(args.address);
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
  VMAIL_OPEN_STORE(ctx, store);
  // Refuse an unknown domain before asking for a password.
  auto exists = store.domain_exists(address->domain);
  if (!exists.ok()) return exists.status();
  if (!*exists) return Status(Code::kNotFound, "domain " + quote(address->domain) + ": no such domain");
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
  Status added =
      store.add_user(user, [&](const User& u) { return create_maildir(s.mail_dir, u.domain, u.local, s.uid, s.gid); });
  if (!added.ok()) return added;
  print_line(ctx, "user " + user.address + " added");
  return ctx.export_after_change();
}

Status user_del(Context& ctx, const std::string& input, bool purge) {
  auto address = address_arg(input);
  if (!address.ok()) return address.status();
  VMAIL_OPEN_STORE(ctx, store);
  User removed;
  if (Status s = store.delete_user(address->str(), &removed); !s.ok()) return s;
  print_line(ctx, "user " + removed.address + " deleted");
  Status exported = ctx.export_after_change();
  if (purge) {
    auto settings = ctx.settings();
    if (Status s = purge_maildir((*settings)->mail_dir, removed.domain, removed.local); !s.ok()) return s;
  }
  return exported;
}

Status user_passwd(Context& ctx, const std::string& input, const PasswordArgs& args) {
  auto address = address_arg(input);
  if (!address.ok()) return address.status();
  VMAIL_OPEN_STORE(ctx, store);
  if (auto u = store.get_user(address->str()); !u.ok()) return u.status();
  auto hash = password_hash(ctx, args);
  if (!hash.ok()) return hash.status();
  if (Status s = store.set_password(address->str(), *hash); !s.ok()) return s;
  print_line(ctx, "password of " + address->str() + " changed");
  return ctx.export_after_change();
}

Status user_enable(Context& ctx, const std::string& input, bool enabled) {
  auto address = address_arg(input);
  if (!address.ok()) return address.status();
  VMAIL_OPEN_STORE(ctx, store);
  if (Status s = store.set_enabled(address->str(), enabled); !s.ok()) return s;
  print_line(ctx, "user " + address->str() + (enabled ? " enabled" : " disabled"));
  return ctx.export_after_change();
}

Status user_quota(Context& ctx, const std::string& input, const std::string& size) {
  auto address = address_arg(input);
  if (!address.ok()) return address.status();
  auto quota = parse_quota(size);
  if (!quota.ok()) return quota.status();
  VMAIL_OPEN_STORE(ctx, store);
  if (Status s = store.set_quota(address->str(), *quota); !s.ok()) return s;
  print_line(ctx, "quota of " + address->str() + " set to " + quota_text(*quota));
  return ctx.export_after_change();
}

Status user_list(Context& ctx, const std::string& domain_in) {
  std::optional<std::string> domain;
  if (!domain_in.empty()) {
    auto d = normalize_domain(domain_in);
    if (!d.ok()) return d.status();
    domain = *d;
  }
  VMAIL_OPEN_STORE(ctx, store);
  auto users = store.list_users(domain);
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
  print_table(ctx, rows);
  return Status::Ok();
}

Status user_show(Context& ctx, const std::string& input) {
  auto address = address_arg(input);
  if (!address.ok()) return address.status();
  VMAIL_OPEN_STORE(ctx, store);
  auto user = store.get_user(address->str());
  if (!user.ok()) return user.status();
  if (ctx.json) {
    print_json(user_json(*user));
    return Status::Ok();
  }
  auto settings = ctx.settings();
  print_table(ctx, {{"address:", user->address},
                    {"domain:", user->domain},
                    {"name:", user->name},
                    {"quota:", quota_text(user->quota)},
                    {"enabled:", user->enabled ? "yes" : "no"},
                    {"created:", user->created},
                    {"updated:", user->updated},
                    {"maildir:", (*settings)->mail_dir + "/" + user->domain + "/" + user->local + "/Maildir"}});
  return Status::Ok();
}

// Alias ------------------------------------------------------------------

std::string source_text(const Address& a) { return a.local.empty() ? "@" + a.domain : a.str(); }

Status alias_add(Context& ctx, const std::string& source_in, const std::vector<std::string>& dest_args) {
  auto source = parse_alias_source(source_in);
  if (!source.ok()) return source.status();
  std::vector<std::string> dests;
  for (const std::string& arg : dest_args) {
    auto parsed = parse_destinations(arg, source_text(*source));
    if (!parsed.ok()) return parsed.status();
    for (std::string& d : *parsed) {
      if (std::find(dests.begin(), dests.end(), d) != dests.end()) {
        return Status(Code::kBadInput, "destination " + quote(d) + ": given twice");
      }
      dests.push_back(std::move(d));
    }
  }
  VMAIL_OPEN_STORE(ctx, store);
  if (Status s = store.add_alias(*source, dests); !s.ok()) return s;
  std::string joined;
  for (const auto& d : dests) joined += (joined.empty() ? "" : ",") + d;
  print_line(ctx, "alias " + source_text(*source) + " -> " + joined + " added");
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
  VMAIL_OPEN_STORE(ctx, store);
  if (Status s = store.delete_alias(source_text(*source), dest); !s.ok()) return s;
  print_line(ctx, dest ? "destination " + *dest + " removed from " + source_text(*source)
                       : "alias " + source_text(*source) + " deleted");
  return ctx.export_after_change();
}

Status alias_list(Context& ctx, const std::string& domain_in) {
  std::optional<std::string> domain;
  if (!domain_in.empty()) {
    auto d = normalize_domain(domain_in);
    if (!d.ok()) return d.status();
    domain = *d;
  }
  VMAIL_OPEN_STORE(ctx, store);
  auto aliases = store.list_aliases(domain);
  if (!aliases.ok()) return aliases.status();
  if (ctx.json) {
    json out = json::array();
    for (const auto& a : *aliases) out.push_back(alias_json(a));
    print_json(out);
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows = {{"SOURCE", "DESTINATIONS"}};
  for (const auto& a : *aliases) {
    std::string joined;
    for (const auto& d : a.destinations) joined += (joined.empty() ? "" : ",") + d;
    rows.push_back({a.source, joined});
  }
  print_table(ctx, rows);
  return Status::Ok();
}

// Export and db ------------------------------------------------------------

Status export_cmd(Context& ctx, bool check) {
  auto db = ctx.database();
  if (!db.ok()) return db.status();
  auto settings = ctx.settings();
  if (check) {
    auto stale = export_out_of_sync(**db, **settings);
    if (!stale.ok()) return stale.status();
    if (stale->empty()) {
      print_line(ctx, "exported files are in sync");
      return Status::Ok();
    }
    for (const auto& path : *stale) std::printf("out of sync: %s\n", path.c_str());
    return Status(Code::kUnhealthy, "");
  }
  auto report = export_all(**db, **settings);
  if (!report.ok()) return report.status();
  for (const auto& path : report->written) print_line(ctx, "wrote " + path);
  if (report->written.empty()) print_line(ctx, "exported files already up to date");
  return Status::Ok();
}

Status db_status(Context& ctx) {
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  auto db = Database::open((*settings)->db, Database::Mode::kReadWrite);
  if (!db.ok()) return db.status();
  int version = (*db)->version();
  int latest = Database::latest();
  if (ctx.json) {
    print_json(json{{"version", version}, {"latest", latest}, {"pending", latest - version}});
  } else {
    print_line(ctx, "database: " + (*settings)->db);
    print_line(ctx, "version " + std::to_string(version) + ", latest " + std::to_string(latest) + ", " +
                        std::to_string(latest - version) + " pending");
  }
  return Status::Ok();
}

Status db_migrate(Context& ctx) {
  auto db = ctx.database();
  if (!db.ok()) return db.status();
  print_line(ctx, "database at version " + std::to_string((*db)->version()));
  return Status::Ok();
}

Status db_backup(Context& ctx, const std::string& target) {
  auto db = ctx.database();
  if (!db.ok()) return db.status();
  if (Status s = (*db)->backup_to(target); !s.ok()) return s;
  print_line(ctx, "backup written to " + target);
  return Status::Ok();
}

Status db_check(Context& ctx) {
  auto db = ctx.database();
  if (!db.ok()) return db.status();
  std::vector<std::string> problems;
  try {
    SQLite::Statement integrity((*db)->sql(), "PRAGMA integrity_check");
    while (integrity.executeStep()) {
      std::string line = integrity.getColumn(0).getString();
      if (line != "ok") problems.push_back("integrity: " + line);
    }
    SQLite::Statement fk((*db)->sql(), "PRAGMA foreign_key_check");
    while (fk.executeStep()) {
      problems.push_back("foreign key: table " + fk.getColumn(0).getString() + " row " + fk.getColumn(1).getString() +
                         " refers to a missing " + fk.getColumn(2).getString());
    }
  } catch (const std::exception& e) {
    return sqlite_status(e, (*db)->path());
  }
  if (problems.empty()) {
    print_line(ctx, "database ok");
    return Status::Ok();
  }
  for (const auto& p : problems) std::printf("%s\n", p.c_str());
  return Status(Code::kBadInput, (*db)->path() + ": " + std::to_string(problems.size()) + " problems found");
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

void add_user_commands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("user", "mailboxes")->require_subcommand(1);
  {
    auto* cmd = group->add_subcommand("add", "add a mailbox");
    auto* a = ctx.keep<UserAddArgs>();
    cmd->add_option("ADDRESS", a->address)->required();
    add_password_options(cmd, a->password);
    a->quota_option = cmd->add_option("--quota", a->quota, "0|N[K|M|G|T] or none");
    cmd->add_option("--name", a->name, "display name");
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return user_add(ctx, *a); }; });
  }
  {
    auto* cmd = group->add_subcommand("del", "delete a mailbox");
    struct Args {
      std::string address;
      bool purge = false;
    };
    auto* a = ctx.keep<Args>();
    cmd->add_option("ADDRESS", a->address)->required();
    cmd->add_flag("--purge", a->purge, "also remove the maildir");
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return user_del(ctx, a->address, a->purge); }; });
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
    cmd->add_option("SIZE", a->second, "0|N[K|M|G|T] or none")->required();
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return user_quota(ctx, a->first, a->second); }; });
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
}

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
}

void add_export_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("export", "regenerate the files Postfix and Dovecot read");
  auto* check = ctx.keep<bool>(false);
  cmd->add_flag("--check", *check, "exit 1 and name the files out of sync");
  cmd->callback([&ctx, check] { ctx.action = [&ctx, check] { return export_cmd(ctx, *check); }; });
}

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
    cmd->add_option("FILE", *file)->required();
    cmd->callback([&ctx, file] { ctx.action = [&ctx, file] { return db_backup(ctx, *file); }; });
  }
  group->add_subcommand("check", "integrity and foreign key check")->callback([&ctx] {
    ctx.action = [&ctx] { return db_check(ctx); };
  });
}

}  // namespace vmail::cli
