// `vmail getent passwd|aliases [KEY...]`: the entries the NSS module
// (libnss_vmail.so.2) answers, printed exactly as glibc's `getent -s vmail`
// prints them. Both go through the same lookups (src/lookup/lookup.h): one code path.
//
// Like getent: no key lists every entry; with keys, each one found is printed
// and a key not found makes the exit status 2. Read-only: unlike the other
// commands this one never creates or migrates the database.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/app.h"
#include "lookup/lookup.h"

namespace vmail::cli {
namespace {

struct GetentArgs {
  std::string database;
  std::vector<std::string> keys;
};

// Turns a failed lookup into the Status main() prints.
Status failed(LookupStatus st, const LookupFailure& failure) {
  if (failure.code != Code::kOk) return Status(failure.code, failure.message);
  if (st == LookupStatus::kTryAgain) return Status(Code::kBusy, "database busy, try again");
  return Status(Code::kInternal, "lookup failed");
}

void print(const std::string& line) { std::fwrite(line.data(), 1, line.size(), stdout); }

template <class Entry>
Status enumerate(const Settings& settings, LookupStatus (*list)(const Settings&, std::vector<Entry>*, LookupFailure*),
                 std::string (*format)(const Entry&)) {
  std::vector<Entry> entries;
  LookupFailure failure;
  if (LookupStatus st = list(settings, &entries, &failure); st != LookupStatus::kFound) return failed(st, failure);
  for (const Entry& e : entries) print(format(e));
  return Status::Ok();
}

template <class Entry>
Status by_keys(const Settings& settings, const std::vector<std::string>& keys,
               LookupStatus (*lookup)(const Settings&, std::string_view, Entry*, LookupFailure*),
               std::string (*format)(const Entry&)) {
  bool all_found = true;
  for (const std::string& key : keys) {
    Entry entry;
    LookupFailure failure;
    LookupStatus st = lookup(settings, key, &entry, &failure);
    if (st == LookupStatus::kFound) {
      print(format(entry));
    } else if (st == LookupStatus::kNotFound) {
      all_found = false;
    } else {
      return failed(st, failure);
    }
  }
  // As glibc's getent: nothing on stderr, exit 2.
  return all_found ? Status::Ok() : Status(Code::kNotFoundKey, "");
}

Status getent(Context& ctx, const GetentArgs& args) {
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  const Settings& s = **settings;
  if (args.database == "passwd") {
    return args.keys.empty() ? enumerate<PasswdEntry>(s, list_passwd, passwd_line)
                             : by_keys<PasswdEntry>(s, args.keys, lookup_passwd, passwd_line);
  }
  return args.keys.empty() ? enumerate<AliasEntry>(s, list_aliases, alias_line)
                           : by_keys<AliasEntry>(s, args.keys, lookup_alias, alias_line);
}

}  // namespace

void add_getent_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("getent", "print passwd or aliases entries as `getent -s vmail` does");
  auto* args = ctx.keep<GetentArgs>();
  cmd->add_option("database", args->database, "passwd or aliases")
      ->required()
      ->check(CLI::IsMember({"passwd", "aliases"}));
  cmd->add_option("key", args->keys, "address (aliases: also @domain); none lists every entry");
  cmd->callback([&ctx, args] { ctx.action = [&ctx, args] { return getent(ctx, *args); }; });
}

}  // namespace vmail::cli
