// `vmail user access` and `vmail user vacation`, and the account features
// `user show` adds (access switches, mailbox usage, vacation reply). Enforcement is in the
// daemons: access through exported files (exporters/access_files.h),
// vacation through a Sieve script Pigeonhole runs before the user's own
// (templates/dovecot/dovecot.conf.mustache, `sieve_before`).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <sstream>

#include "cli/app.h"
#include "core/files.h"
#include "core/process.h"
#include "core/row_policy.h"
#include "core/vacation.h"
#include "core/validate.h"

namespace vmail::cli {
namespace {

using json = nlohmann::ordered_json;

Status bad(const std::string& field, const std::string& value, const std::string& why) {
  return Status(Code::kBadInput, field + " " + quote(value) + ": " + why);
}

// `imap=off` -> ("imap", false); 65 naming the argument otherwise.
Result<std::pair<std::string, bool>> parse_switch(const std::string& arg) {
  auto eq = arg.find('=');
  std::string service = arg.substr(0, eq);
  if (std::find(kAccessServices.begin(), kAccessServices.end(), service) == kAccessServices.end()) {
    return bad("access", arg, "unknown service (use imap, pop3, sieve, send or receive)");
  }
  std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
  if (value != "on" && value != "off") return bad("access", arg, "expected " + service + "=on or " + service + "=off");
  return std::make_pair(service, value == "on");
}

json access_object(const std::vector<std::string>& denied) {
  json out = json::object();
  for (const auto& s : kAccessServices) out[s] = std::find(denied.begin(), denied.end(), s) == denied.end();
  return out;
}

std::string access_text(const std::vector<std::string>& denied) {
  std::string out;
  for (const auto& s : kAccessServices) {
    bool on = std::find(denied.begin(), denied.end(), s) == denied.end();
    out += (out.empty() ? "" : " ") + s + "=" + (on ? "on" : "off");
  }
  return out;
}

struct AccessArgs {
  std::string address;
  std::vector<std::string> switches;
};

Status user_access(Context& ctx, const AccessArgs& args) {
  auto address = parse_address(args.address);
  if (!address.ok()) return address.status();
  std::vector<std::pair<std::string, bool>> changes;
  for (const auto& arg : args.switches) {
    auto change = parse_switch(arg);
    if (!change.ok()) return change.status();
    for (const auto& [service, on] : changes) {
      if (service == change->first && on != change->second) return bad("access", arg, "contradicts an earlier switch");
    }
    changes.push_back(*change);
  }
  auto store = changes.empty() ? ctx.reading_store() : ctx.store();
  if (!store.ok()) return store.status();
  if (!changes.empty()) {
    if (Status s = store->set_access(address->str(), changes); !s.ok()) return s;
  }
  auto denied = store->denied_services(address->str());
  if (!denied.ok()) return denied.status();
  // Without switches the line is what was asked for; after a change it is
  // a confirmation, which -q silences.
  if (ctx.json) {
    print_json(access_object(*denied));
  } else if (changes.empty() || !ctx.quiet) {
    std::printf("%s %s\n", address->str().c_str(), access_text(*denied).c_str());
  }
  return changes.empty() ? Status::Ok() : ctx.export_after_change();
}

// --- vacation ---------------------------------------------------------------

Result<std::string> read_message(const std::string& path) {
  // Refused by its size before it is read: /dev/zero or a mail folder given
  // by mistake is never read whole.
  auto text = read_file_limited(path, kMaxVacationMessage);
  if (!text.ok() && text.status().code() == Code::kBadInput) {
    return bad("--message-file", path, "larger than the limit of " + format_limit(kMaxVacationMessage));
  }
  if (!text.ok()) return text.status();
  if (!*text) return Status(Code::kNoInput, "--message-file " + quote(path) + ": no such file");
  return std::move(**text);
}

// The mailbox's home folder. It belongs to the vmail uid (and so to whatever
// runs as it: Dovecot's mail processes, Sieve): walked by descriptor, never
// through a symlink, and the row's names checked again before they become
// folders. nullopt when the mail folder or the home does not exist.
Result<std::optional<Dir>> open_home(const Settings& s, const User& user) {
  if (!row_safe_user(user.address, user.local, user.domain)) {
    return Status(Code::kInternal, "user " + quote(user.address) + ": not safe as a folder name (a bad row?)");
  }
  auto mail = Dir::open(s.mail_dir);
  if (!mail.ok()) return std::optional<Dir>();
  auto domain_dir = mail->sub(user.domain);
  if (!domain_dir.ok()) return domain_dir.status();
  if (!*domain_dir) return std::optional<Dir>();
  return (*domain_dir)->sub(user.local);
}

// The vacation reply as the home's script says: none, vmail's settings, or
// something else in its place (a script vmail did not write, a symlink, a
// file too large: changed by something running as the vmail uid), which
// `problem` names.
struct VacationState {
  bool on = false;
  std::optional<VacationSettings> settings;
  std::string problem;
};

VacationState read_vacation(const std::optional<Dir>& home) {
  if (!home) return VacationState{};
  auto text = home->read_file(kVacationScript, kMaxVacationScript);
  if (!text.ok()) return VacationState{true, std::nullopt, text.status().message()};
  if (!*text) return VacationState{};
  auto settings = parse_vacation_script(**text);
  if (!settings) return VacationState{true, std::nullopt, std::string("a vacation script not written by vmail")};
  return VacationState{true, std::move(settings), ""};
}

// For the audit log: the message by its size (up to 64 KiB, not worth a log line).
nlohmann::json vacation_record(const VacationState& v) {
  using record = nlohmann::json;
  if (!v.on) return nullptr;
  if (!v.settings) return record{{"script", v.problem}};
  const VacationSettings& s = *v.settings;
  return record{{"subject", s.subject},
                {"until", s.until.empty() ? record(nullptr) : record(s.until)},
                {"message_bytes", s.message.size()}};
}

struct VacationArgs {
  std::string address;
  std::string subject;
  std::string message_file;
  std::string until;
  bool off = false;
};

Status user_vacation(Context& ctx, const VacationArgs& args) {
  auto address = parse_address(args.address);
  if (!address.ok()) return address.status();
  VacationSettings wanted;
  if (!args.off) {
    if (args.message_file.empty()) return Status(Code::kUsage, "--message-file: required (or --off)");
    wanted.subject = args.subject;
    wanted.until = args.until;
    // Subject and date first: they are checked before the file is read.
    if (Status s = check_vacation({wanted.subject, "-", wanted.until}); !s.ok()) return s;
    auto message = read_message(args.message_file);
    if (!message.ok()) return message.status();
    wanted.message = std::move(*message);
    if (Status s = check_vacation(wanted, args.message_file); !s.ok()) return s;
  }
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  auto user = store->get_user(address->str());
  if (!user.ok()) return user.status();
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  const Settings& s = **settings;
  auto home = open_home(s, *user);
  if (!home.ok()) return home.status();
  if (!args.off && !*home) {
    return Status(Code::kCantCreate,
                  s.mail_dir + "/" + user->domain + "/" + user->local + ": the mailbox's home folder does not exist");
  }
  // The file changes inside the store's write transaction, so the audit
  // entry commits with it (a failed write leaves neither).
  Status changed = store->record_vacation(user->address, [&](nlohmann::json& before, nlohmann::json& after) -> Status {
    before = vacation_record(read_vacation(*home));
    if (args.off) {
      if (*home) {
        for (const char* name : {kVacationScript, kVacationBinary}) {
          if (Status r = (*home)->remove(name); !r.ok()) return r;
        }
      }
      after = nullptr;
      return Status::Ok();
    }
    // Dovecot (as the vmail user) compiles the script beside it.
    if (Status w = (*home)->write_file(kVacationScript, vacation_script(wanted), FileOptions{0600, s.uid, s.gid});
        !w.ok()) {
      return w;
    }
    after = vacation_record(VacationState{true, wanted, ""});
    return Status::Ok();
  });
  if (!changed.ok()) return changed;
  print_line(ctx, "vacation of " + user->address +
                      (args.off ? " off" : " on" + (args.until.empty() ? "" : " until " + args.until)));
  return Status::Ok();
}

}  // namespace

json mailbox_usage(const Settings& settings, const std::string& address) {
  std::string config = settings.dovecot_dir + "/dovecot.conf";
  struct stat st;
  if (::stat(config.c_str(), &st) != 0) return nullptr;
  auto run = run_process({"doveadm", "-c", config, "-f", "tab", "quota", "get", "-u", address},
                         {std::string("PATH=") + kSafePath, "LANG=C.UTF-8"});
  if (!run.ok() || run->exit_code != 0) return nullptr;
  // "Quota name<TAB>Type<TAB>Value<TAB>Limit<TAB>%", then one row per type;
  // STORAGE is in KiB.
  json usage = {{"storage", nullptr}, {"messages", nullptr}};
  std::istringstream in(run->output);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::istringstream cells(line);
    for (std::string cell; std::getline(cells, cell, '\t');) f.push_back(cell);
    if (f.size() < 3 || f[2].empty() || f[2].find_first_not_of("0123456789") != std::string::npos) continue;
    uint64_t value = std::stoull(f[2]);
    if (f[1] == "STORAGE") usage["storage"] = value * 1024;
    if (f[1] == "MESSAGE") usage["messages"] = value;
  }
  return usage["storage"].is_null() || usage["messages"].is_null() ? json(nullptr) : usage;
}

json vacation_json(const Settings& settings, const User& user) {
  auto home = open_home(settings, user);
  if (!home.ok()) return json{{"error", home.status().message()}};
  VacationState v = read_vacation(*home);
  if (!v.on) return nullptr;
  if (!v.settings) return json{{"error", v.problem}};
  const VacationSettings& s = *v.settings;
  return json{
      {"subject", s.subject}, {"until", s.until.empty() ? json(nullptr) : json(s.until)}, {"message", s.message}};
}

std::string vacation_text(const json& vacation) {
  if (vacation.is_null()) return "off";
  if (vacation.contains("error")) return "unknown (" + vacation["error"].get<std::string>() + ")";
  std::string out = "on, subject " + quote(vacation["subject"].get<std::string>());
  if (!vacation["until"].is_null()) out += ", until " + vacation["until"].get<std::string>();
  return out;
}

json access_json(Store& store, const std::string& address) {
  auto denied = store.denied_services(address);
  return denied.ok() ? access_object(*denied) : json(nullptr);
}

void add_user_feature_commands(CLI::App& group, Context& ctx) {
  {
    auto* cmd = group.add_subcommand("access", "show or set per-service access (imap pop3 sieve send receive)");
    auto* a = ctx.keep<AccessArgs>();
    cmd->add_option("ADDRESS", a->address)->required();
    cmd->add_option("SWITCH", a->switches, "SERVICE=on|off; none: show the switches");
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return user_access(ctx, *a); }; });
  }
  {
    auto* cmd = group.add_subcommand("vacation", "install or remove a vacation auto-reply (Sieve)");
    auto* a = ctx.keep<VacationArgs>();
    cmd->add_option("ADDRESS", a->address)->required();
    auto* off = cmd->add_flag("--off", a->off, "remove the vacation reply");
    cmd->add_option("--subject", a->subject, "subject of the reply")->excludes(off);
    cmd->add_option("--message-file", a->message_file, "text of the reply")->excludes(off);
    cmd->add_option("--until", a->until, "last day it answers (YYYY-MM-DD)")->excludes(off);
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return user_vacation(ctx, *a); }; });
  }
}

}  // namespace vmail::cli
