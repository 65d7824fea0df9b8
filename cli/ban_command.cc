// `vmail ban list|add|del`: the login bans of this node (issue 25), kept by
// vmail-policyd in $VMAIL_STATE_DIR/policy.db. vmail-policyd reads that file
// for every login, so a change here holds from the next login on.
#include <chrono>
#include <ctime>
#include <optional>
#include <string>

#include "cli/app.h"
#include "core/ip_network.h"
#include "core/policy_state.h"

namespace vmail::cli {
namespace {

using json = nlohmann::ordered_json;

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string utc(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// ADDRESS: one IPv4 or IPv6 address, in canonical form (bans are per
// address, as Dovecot reports the client).
Result<std::string> parse_ban_address(const std::string& input) {
  auto address = parse_ip(input);
  if (!address) return Status(Code::kBadInput, "address " + quote(input) + ": not an IPv4 or IPv6 address");
  return address->text();
}

Status ban_list(Context& ctx) {
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  auto state = PolicyState::open_existing((*settings)->state_dir);
  if (!state.ok()) return state.status();
  std::vector<Ban> bans;
  if (*state) {
    auto list = (*state)->list_bans(now_seconds());
    if (!list.ok()) return list.status();
    bans = std::move(*list);
  }
  if (ctx.json) {
    json out = json::array();
    for (const auto& b : bans) {
      out.push_back({{"address", b.address}, {"since", utc(b.since)}, {"until", utc(b.until)}, {"reason", b.reason}});
    }
    print_json(out);
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows = {{"ADDRESS", "SINCE", "UNTIL", "REASON"}};
  for (const auto& b : bans) rows.push_back({b.address, utc(b.since), utc(b.until), b.reason});
  print_table(rows);
  return Status::Ok();
}

struct BanAddArgs {
  std::string address;
  std::string seconds;
  CLI::Option* for_option = nullptr;
};

Status ban_add(Context& ctx, const BanAddArgs& args) {
  auto address = parse_ban_address(args.address);
  if (!address.ok()) return address.status();
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  int64_t seconds = (*settings)->ban_time;
  if (args.for_option->count() > 0) {
    const std::string& s = args.seconds;
    if (s.empty() || s.size() > 8 || s.find_first_not_of("0123456789") != std::string::npos || s[0] == '0' ||
        std::stoll(s) > 31536000) {
      return Status(Code::kBadInput, "--for " + quote(s) + ": not a number of seconds (1 to 31536000)");
    }
    seconds = std::stoll(s);
  }
  auto state = PolicyState::open((*settings)->state_dir);
  if (!state.ok()) return state.status();
  int64_t now = now_seconds();
  if (Status s = (*state)->add_ban(*address, now, now + seconds, "manual"); !s.ok()) return s;
  if (auto store = ctx.store(); store.ok()) {
    if (Status s = store->audit_outside_change("ban add", *address, nullptr, json{{"until", utc(now + seconds)}});
        !s.ok()) {
      return s;
    }
  }
  print_line(ctx, "banned " + *address + " until " + utc(now + seconds));
  return Status::Ok();
}

Status ban_del(Context& ctx, const std::string& input) {
  auto address = parse_ban_address(input);
  if (!address.ok()) return address.status();
  auto settings = ctx.settings();
  if (!settings.ok()) return settings.status();
  auto state = PolicyState::open_existing((*settings)->state_dir);
  if (!state.ok()) return state.status();
  bool had = false;
  if (*state) {
    auto removed = (*state)->remove_ban(*address, now_seconds());
    if (!removed.ok()) return removed.status();
    had = *removed;
  }
  if (!had) return Status(Code::kNotFound, "address " + quote(*address) + ": not banned");
  if (auto store = ctx.store(); store.ok()) {
    if (Status s = store->audit_outside_change("ban del", *address, json{{"banned", true}}, nullptr); !s.ok()) return s;
  }
  print_line(ctx, "ban on " + *address + " lifted");
  return Status::Ok();
}

}  // namespace

void add_ban_commands(CLI::App& app, Context& ctx) {
  auto* group =
      app.add_subcommand("ban", "login bans of this server (failed logins, or by hand)")->require_subcommand(1);
  {
    auto* cmd = group->add_subcommand("list", "list the bans in force");
    cmd->callback([&ctx] { ctx.action = [&ctx] { return ban_list(ctx); }; });
  }
  {
    auto* cmd = group->add_subcommand("add", "ban an address from every login (IMAP, POP3, ManageSieve, SMTP AUTH)");
    auto* a = ctx.keep<BanAddArgs>();
    cmd->add_option("ADDRESS", a->address, "an IPv4 or IPv6 address")->required();
    a->for_option = cmd->add_option("--for", a->seconds, "seconds (default VMAIL_BAN_TIME)");
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return ban_add(ctx, *a); }; });
  }
  {
    auto* cmd = group->add_subcommand("del", "lift the ban on an address");
    auto* address = ctx.keep<std::string>();
    cmd->add_option("ADDRESS", *address, "an IPv4 or IPv6 address")->required();
    cmd->callback([&ctx, address] { ctx.action = [&ctx, address] { return ban_del(ctx, *address); }; });
  }
}

}  // namespace vmail::cli
