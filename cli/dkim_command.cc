// `vmail domain dkim` (a domain's DKIM keys: list, add, rotate, remove) and
// `vmail domain dns` (the records to publish for it).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <string>
#include <vector>

#include "cli/app.h"
#include "core/dkim.h"
#include "core/validate.h"
#include "dkim/keygen.h"

namespace vmail::cli {

Result<NewDkimKeys> new_keys_for_domain(Context& ctx) {
  // The database first: the recorded VMAIL_UID is the fallback key owner.
  if (auto db = ctx.database(); !db.ok()) return db.status();
  auto keys = vmail::new_domain_keys(**ctx.settings(), process_env(), std::time(nullptr));
  if (keys.ok() && !keys->files.warning.empty()) spdlog::warn("{}", keys->files.warning);
  return keys;
}

Status sweep_key_files(Context& ctx, Store& store) {
  return store.sweep_dkim_files(dkim_key_files(**ctx.settings(), process_env()));
}

namespace {

using json = nlohmann::ordered_json;

struct DkimArgs {
  std::string domain;
  std::string selector;
  std::string algorithm;
  std::string remove;
  bool rotate = false;
};

struct DnsArgs {
  std::string domain;
  std::string mta_sts_mode = "testing";
  bool mta_sts_policy = false;  // print the policy file instead of the records
};

bool has_active(const std::vector<DkimKey>& keys, DkimAlgorithm algorithm) {
  return std::any_of(keys.begin(), keys.end(),
                     [&](const DkimKey& k) { return k.algorithm == algorithm && k.state == DkimState::kActive; });
}

Status list_keys(Context& ctx, const std::vector<DkimKey>& keys) {
  if (ctx.json) {
    json out = json::array();
    for (const DkimKey& k : keys) {
      out.push_back(json{{"selector", k.selector},
                         {"algorithm", dkim_algorithm_name(k.algorithm)},
                         {"state", dkim_state_name(k.state)},
                         {"created", k.created}});
    }
    print_json(out);
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows = {{"SELECTOR", "ALGORITHM", "STATE", "CREATED"}};
  for (const DkimKey& k : keys) {
    rows.push_back(
        {k.selector, std::string(dkim_algorithm_name(k.algorithm)), std::string(dkim_state_name(k.state)), k.created});
  }
  print_table(rows);
  return Status::Ok();
}

// --rotate and/or --algorithm: the new key (and an rsa companion for an
// ed25519 key when the domain has no active rsa key).
Status add_keys(Context& ctx, Store& store, const std::string& domain, const std::vector<DkimKey>& keys,
                DkimAlgorithm algorithm, const std::string& selector, bool rotate) {
  if (!rotate && has_active(keys, algorithm)) {
    return Status(Code::kBadInput, "--algorithm " + quote(dkim_algorithm_name(algorithm)) + ": domain " +
                                       quote(domain) + " has an active key of it (use --rotate to replace it)");
  }
  auto dkim = new_keys_for_domain(ctx);
  if (!dkim.ok()) return dkim.status();
  dkim->keys.clear();
  std::vector<DkimAlgorithm> wanted = {algorithm};
  if (algorithm == DkimAlgorithm::kEd25519 && !has_active(keys, DkimAlgorithm::kRsa)) {
    wanted.push_back(DkimAlgorithm::kRsa);
  }
  for (DkimAlgorithm a : wanted) {
    auto key = generate_dkim_key(a);
    if (!key.ok()) return key.status();
    if (a == algorithm) key->selector = selector;
    dkim->keys.push_back(std::move(*key));
  }
  auto added = store.add_dkim_keys(domain, *dkim, rotate);
  if (!added.ok()) return added.status();
  for (const DkimKey& old : keys) {
    if (rotate && old.state == DkimState::kActive && old.algorithm == algorithm) {
      print_line(ctx, "DKIM key " + old.selector + " of " + domain + " retired (still listed by `vmail domain dns`)");
    }
  }
  for (const DkimKey& k : *added) {
    print_line(ctx, "DKIM key " + k.selector + " (" + std::string(dkim_algorithm_name(k.algorithm)) + ") of " + domain +
                        " added");
  }
  return ctx.export_after_change();
}

Status domain_dkim(Context& ctx, const DkimArgs& a) {
  auto domain = normalize_domain(a.domain);
  if (!domain.ok()) return domain.status();
  std::string selector;
  if (!a.selector.empty()) {
    auto s = normalize_selector(a.selector);
    if (!s.ok()) return s.status();
    if (!a.rotate && a.algorithm.empty()) {
      return Status(Code::kBadInput,
                    "--selector " + quote(*s) + ": names a new key, so it needs --rotate or --algorithm");
    }
    selector = *s;
  }
  DkimAlgorithm algorithm = DkimAlgorithm::kRsa;
  if (!a.algorithm.empty()) {
    auto parsed = parse_dkim_algorithm(a.algorithm);
    if (!parsed.ok()) return parsed.status();
    algorithm = *parsed;
  }
  std::string remove;
  if (!a.remove.empty()) {
    auto s = normalize_selector(a.remove, "--remove");
    if (!s.ok()) return s.status();
    remove = *s;
  }
  // Without --rotate, --algorithm or --remove it only shows the keys.
  bool writes = !remove.empty() || a.rotate || !a.algorithm.empty();
  auto store = writes ? ctx.store() : ctx.reading_store();
  if (!store.ok()) return store.status();
  auto keys = store->list_dkim_keys(*domain);
  if (!keys.ok()) return keys.status();
  if (!remove.empty()) {
    if (Status s = store->remove_dkim_key(*domain, remove, dkim_key_files(**ctx.settings(), process_env())); !s.ok()) {
      return s;
    }
    print_line(ctx, "DKIM key " + remove + " of " + *domain + " removed");
    return ctx.export_after_change();
  }
  if (a.rotate || !a.algorithm.empty()) return add_keys(ctx, *store, *domain, *keys, algorithm, selector, a.rotate);
  return list_keys(ctx, *keys);
}

// A recorded port (from the database: untrusted), or nullopt.
std::optional<uint16_t> recorded_port(const std::map<std::string, std::string>& recorded, const std::string& name) {
  auto it = recorded.find(name);
  if (it == recorded.end() || it->second.empty() || it->second.size() > 5 ||
      it->second.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  unsigned long n = std::stoul(it->second);
  if (n == 0 || n > 65535) return std::nullopt;
  return static_cast<uint16_t>(n);
}

// The server name and ports vmail-launch recorded, defaults (said on
// stderr) for what it did not.
Result<DnsTarget> dns_target(Context& ctx, const std::string& domain) {
  auto db = ctx.reading_database();
  if (!db.ok()) return db.status();
  auto recorded = (*db)->recorded_settings();
  if (!recorded.ok()) return recorded.status();
  DnsTarget target;
  auto name = recorded->find("MAIL_SERVER_NAME");
  if (name != recorded->end() && normalize_domain(name->second).ok()) {
    target.server_name = *normalize_domain(name->second);
  } else {
    target.server_name = "mail." + domain;
    spdlog::warn("no server name recorded by vmail-launch: using {} (MAIL_SERVER_NAME's default)", target.server_name);
  }
  std::vector<std::string> defaulted;
  for (auto [service, variable] :
       {std::pair{"smtps", "VMAIL_SMTPS_PORT"}, std::pair{"submission", "VMAIL_SUBMISSION_PORT"},
        std::pair{"imaps", "VMAIL_IMAPS_PORT"}, std::pair{"pop3s", "VMAIL_POP3S_PORT"}}) {
    if (auto port = recorded_port(*recorded, variable)) {
      target.ports[service] = *port;
    } else {
      defaulted.push_back(service);
    }
  }
  if (!defaulted.empty()) {
    std::string list;
    for (const auto& s : defaulted) list += (list.empty() ? "" : ", ") + s;
    spdlog::warn("no port recorded by vmail-launch for {}: using the standard port", list);
  }
  return target;
}

Status domain_dns(Context& ctx, const DnsArgs& a) {
  auto domain = normalize_domain(a.domain);
  if (!domain.ok()) return domain.status();
  if (a.mta_sts_mode != "testing" && a.mta_sts_mode != "enforce" && a.mta_sts_mode != "none") {
    return Status(Code::kBadInput, "--mta-sts-mode " + quote(a.mta_sts_mode) + ": must be testing, enforce or none");
  }
  auto store = ctx.reading_store();
  if (!store.ok()) return store.status();
  auto keys = store->list_dkim_keys(*domain);
  if (!keys.ok()) return keys.status();
  auto target = dns_target(ctx, *domain);
  if (!target.ok()) return target.status();
  const std::string policy = mta_sts_policy(*target, a.mta_sts_mode);
  if (a.mta_sts_policy && !ctx.json) {
    // The file itself, to serve at https://mta-sts.DOMAIN/.well-known/mta-sts.txt.
    std::fwrite(policy.data(), 1, policy.size(), stdout);
    return Status::Ok();
  }
  std::vector<DnsRecord> records = dns_records(*domain, *target, *keys, a.mta_sts_mode);
  if (ctx.json) {
    json list = json::array();
    for (const DnsRecord& r : records) {
      list.push_back(json{{"name", r.name},
                          {"type", r.type},
                          {"ttl", r.ttl},
                          {"value", r.value},
                          {"strings", r.strings ? json(*r.strings) : json(nullptr)}});
    }
    print_json(json{{"domain", *domain},
                    {"records", list},
                    {"mta_sts_policy",
                     {{"url", "https://mta-sts." + *domain + "/.well-known/mta-sts.txt"},
                      {"mode", a.mta_sts_mode},
                      {"text", policy}}}});
    return Status::Ok();
  }
  if (keys->empty())
    spdlog::warn("domain {} has no DKIM key (`vmail domain dkim {} --rotate` makes one)", *domain, *domain);
  for (const DnsRecord& r : records) print_data(r.zone_line());
  // A zone-file comment: the output stays pasteable.
  print_data("; MTA-STS: serve the output of `vmail domain dns " + *domain + " --mta-sts-policy` at https://mta-sts." +
             *domain + "/.well-known/mta-sts.txt");
  return Status::Ok();
}

}  // namespace

void add_domain_dkim_commands(CLI::App& group, Context& ctx) {
  {
    auto* cmd = group.add_subcommand("dkim", "show, add, rotate or remove the domain's DKIM keys");
    auto* a = ctx.keep<DkimArgs>();
    cmd->add_option("DOMAIN", a->domain)->required();
    auto* sel = cmd->add_option("--selector", a->selector, "selector of the new key (default s<YYYYMMDD>)");
    auto* rot = cmd->add_flag("--rotate", a->rotate, "new signing key; the old one is retired (still listed in DNS)");
    auto* alg = cmd->add_option("--algorithm", a->algorithm, "rsa (2048 bits, default) or ed25519 (with an rsa key)");
    cmd->add_option("--remove", a->remove, "delete the key SELECTOR (not the active rsa key)")
        ->excludes(sel)
        ->excludes(rot)
        ->excludes(alg);
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return domain_dkim(ctx, *a); }; });
  }
  {
    auto* cmd = group.add_subcommand("dns", "the DNS records to publish for the domain (zone file lines)");
    auto* a = ctx.keep<DnsArgs>();
    cmd->add_option("DOMAIN", a->domain)->required();
    cmd->add_option("--mta-sts-mode", a->mta_sts_mode,
                    "the MTA-STS policy's mode: testing (default: senders report, nothing waits), enforce, none");
    cmd->add_flag("--mta-sts-policy", a->mta_sts_policy,
                  "print the MTA-STS policy file (for https://mta-sts.DOMAIN/.well-known/mta-sts.txt) instead");
    cmd->callback([&ctx, a] { ctx.action = [&ctx, a] { return domain_dns(ctx, *a); }; });
  }
}

}  // namespace vmail::cli
