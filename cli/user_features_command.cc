// `vmail user access` and `vmail user vacation`, and the account features
// `user show` adds (access switches, mailbox usage). Enforcement is in the
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
  if (ctx.json) {
    print_json(access_object(*denied));
  } else if (!ctx.quiet) {
    std::printf("%s %s\n", address->str().c_str(), access_text(*denied).c_str());
  }
  return changes.empty() ? Status::Ok() : ctx.export_after_change();
}

// --- vacation ---------------------------------------------------------------

constexpr size_t kMaxVacationMessage = 64 * 1024;

// A Sieve quoted string (RFC 5228 2.4.2): backslash and quote escaped.
std::string sieve_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

// YYYY-MM-DD naming a real day.
Status check_date(const std::string& date) {
  std::tm tm{};
  const char* end = strptime(date.c_str(), "%Y-%m-%d", &tm);
  bool shape = date.size() == 10 && date[4] == '-' && date[7] == '-';
  if (!shape || end == nullptr || *end != '\0') return bad("--until", date, "not a date (YYYY-MM-DD)");
  std::tm copy = tm;
  copy.tm_isdst = -1;
  timegm(&copy);  // normalises 02-30 to 03-02: then it was no real day
  if (copy.tm_mday != tm.tm_mday || copy.tm_mon != tm.tm_mon) return bad("--until", date, "no such day");
  return Status::Ok();
}

Status check_subject(const std::string& subject) {
  if (subject.empty()) return bad("--subject", subject, "empty");
  if (subject.size() > 200) return bad("--subject", subject.substr(0, 20) + "...", "longer than 200 bytes");
  for (unsigned char c : subject) {
    if (c < 0x20 || c == 0x7f) return bad("--subject", subject, "control characters are not allowed");
  }
  return Status::Ok();
}

Result<std::string> read_message(const std::string& path) {
  // Refused by its size before it is read: /dev/zero or a mail folder given
  // by mistake is never read whole.
  auto text = read_file_limited(path, kMaxVacationMessage);
  if (!text.ok() && text.status().code() == Code::kBadInput) {
    return bad("--message-file", path, "larger than the limit of " + format_limit(kMaxVacationMessage));
  }
  if (!text.ok()) return text.status();
  if (!*text) return Status(Code::kNoInput, "--message-file " + quote(path) + ": no such file");
  const std::string& m = **text;
  if (m.empty()) return bad("--message-file", path, "empty");
  for (unsigned char c : m) {
    if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f) {
      return bad("--message-file", path, "control characters are not allowed");
    }
  }
  return m;
}

// The script: one vacation action, answering each sender at most once a
// week (:days). Pigeonhole's vacation never answers mailing lists, bounces
// or other automatic replies.
std::string vacation_script(const std::string& subject, const std::string& message, const std::string& until) {
  std::string action = "vacation :days 7 :subject " + sieve_string(subject) + " " + sieve_string(message) + ";\n";
  std::string out = "# Written by `vmail user vacation`; changed or removed only by it.\n";
  if (until.empty()) return out + "require \"vacation\";\n" + action;
  return out + "require [\"vacation\", \"date\", \"relational\"];\nif currentdate :value \"le\" \"date\" " +
         sieve_string(until) + " {\n  " + action + "}\n";
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
  std::string script;
  if (!args.off) {
    if (args.message_file.empty()) return Status(Code::kUsage, "--message-file: required (or --off)");
    if (Status s = check_subject(args.subject); !s.ok()) return s;
    if (!args.until.empty()) {
      if (Status s = check_date(args.until); !s.ok()) return s;
    }
    auto message = read_message(args.message_file);
    if (!message.ok()) return message.status();
    script = vacation_script(args.subject, *message, args.until);
  }
  auto store = ctx.store();
  if (!store.ok()) return store.status();
  auto user = store->get_user(address->str());
  if (!user.ok()) return user.status();
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  const Settings& s = **settings;
  // The home folder belongs to the vmail uid (and so to whatever runs as it:
  // Dovecot's mail processes, Sieve): walked by descriptor, never through a
  // symlink, and the row's names checked again before they become folders.
  if (!row_safe_user(user->address, user->local, user->domain)) {
    return Status(Code::kInternal, "user " + quote(user->address) + ": not safe as a folder name (a bad row?)");
  }
  std::string home_path = s.mail_dir + "/" + user->domain + "/" + user->local;
  auto no_home = [&] { return Status(Code::kCantCreate, home_path + ": the mailbox's home folder does not exist"); };
  auto mail = Dir::open(s.mail_dir);
  if (!mail.ok()) return args.off ? Status::Ok() : no_home();
  auto domain_dir = mail->sub(user->domain);
  if (!domain_dir.ok()) return domain_dir.status();
  std::optional<Dir> home;
  if (*domain_dir) {
    auto h = (*domain_dir)->sub(user->local);
    if (!h.ok()) return h.status();
    home = std::move(*h);
  }
  if (args.off) {
    if (home) {
      for (const char* name : {".vmail-vacation.sieve", ".vmail-vacation.svbin"}) {
        if (Status r = home->remove(name); !r.ok()) return r;
      }
    }
    print_line(ctx, "vacation of " + user->address + " off");
    return Status::Ok();
  }
  if (!home) return no_home();
  // Dovecot (as the vmail user) compiles the script beside it.
  if (Status w = home->write_file(".vmail-vacation.sieve", script, FileOptions{0600, s.uid, s.gid}); !w.ok()) return w;
  print_line(ctx, "vacation of " + user->address + " on" + (args.until.empty() ? "" : " until " + args.until));
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
