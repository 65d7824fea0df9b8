#include "launch/launch_settings.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <set>

#include "core/files.h"
#include "core/ip_network.h"
#include "core/row_policy.h"
#include "core/settings_table.h"
#include "core/validate.h"
#include "pg/url.h"

namespace vmail {

const std::vector<ServiceSpec> kServices = {
    {"smtp", "VMAIL_SMTP_PORT"},
    {"submission", "VMAIL_SUBMISSION_PORT"},
    {"smtps", "VMAIL_SMTPS_PORT"},
    {"imap", "VMAIL_IMAP_PORT"},
    {"imaps", "VMAIL_IMAPS_PORT"},
    {"pop3", "VMAIL_POP3_PORT"},
    {"pop3s", "VMAIL_POP3S_PORT"},
    {"managesieve", "VMAIL_MANAGESIEVE_PORT"},
    // Dovecot's quota-status policy service for Postfix: loopback only.
    {"quota-status", "VMAIL_QUOTA_STATUS_PORT", {}, true},
    // unbound, the validating resolver Postfix's DANE needs (loopback only).
    {"resolver", "VMAIL_RESOLVER_PORT", {"VMAIL_DANE"}, true},
    // postfix-mta-sts-resolver's socketmap: each domain's MTA-STS policy.
    {"mta-sts", "VMAIL_MTA_STS_PORT", {"VMAIL_MTA_STS"}, true},
    // The spam layer (VMAIL_SPAM, VMAIL_GREYLIST): loopback only.
    {"redis", "VMAIL_REDIS_PORT", {"VMAIL_SPAM"}, true},
    {"rspamd-milter", "VMAIL_RSPAMD_MILTER_PORT", {"VMAIL_SPAM"}, true},
    {"rspamd-controller", "VMAIL_RSPAMD_CONTROLLER_PORT", {"VMAIL_SPAM"}, true},
    {"postgrey", "VMAIL_POSTGREY_PORT", {"VMAIL_SPAM", "VMAIL_GREYLIST"}, true},
    // vmail-policyd (src/policy): login bans for Dovecot's auth (HTTP) and
    // send limits for Postfix at RCPT. Loopback only.
    {"policy", "VMAIL_POLICY_PORT", {}, true},
    {"send-policy", "VMAIL_SEND_POLICY_PORT", {}, true},
};

uint16_t Endpoints::port(const std::string& service) const {
  for (size_t i = 0; i < kServices.size() && i < ports.size(); ++i) {
    if (service == kServices[i].name) return ports[i];
  }
  return 0;
}

std::string Endpoints::connect_host() const { return listen.empty() ? "127.0.0.1" : listen; }

namespace {

// flag > environment > recorded; nullopt when none gave a value.
std::optional<std::string> lookup(const std::string& name, const std::map<std::string, std::string>& flags,
                                  const EnvReader& env, const std::map<std::string, std::string>& recorded) {
  if (auto it = flags.find(name); it != flags.end() && !it->second.empty()) return it->second;
  if (auto v = env(name)) return v;
  if (auto it = recorded.find(name); it != recorded.end() && !it->second.empty()) return it->second;
  return std::nullopt;
}

Result<uint16_t> parse_port(const std::string& name, const std::string& value) {
  if (value.empty() || value.size() > 5 || value.find_first_not_of("0123456789") != std::string::npos) {
    return Status(Code::kConfig, name + " " + quote(value) + ": not a port number");
  }
  unsigned long n = std::stoul(value);
  if (n == 0 || n > 65535) return Status(Code::kConfig, name + " " + quote(value) + ": port must be 1-65535");
  return static_cast<uint16_t>(n);
}

Result<int> parse_seconds(const std::string& name, const std::string& value, int low, int high) {
  if (value.empty() || value.size() > 5 || value.find_first_not_of("0123456789") != std::string::npos) {
    return Status(Code::kConfig, name + " " + quote(value) + ": not a whole number of seconds");
  }
  int n = std::stoi(value);
  if (n < low || n > high) {
    return Status(Code::kConfig,
                  name + " " + quote(value) + ": must be " + std::to_string(low) + "-" + std::to_string(high) + " s");
  }
  return n;
}

bool is_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

// One mynetworks entry, address or address/prefix (IPv6 in brackets), as
// family and prefix length; nullopt when it is neither.
struct Network {
  bool ipv6 = false;
  int prefix = 0;
  in6_addr addr6{};
};

std::optional<Network> parse_network(const std::string& token) {
  std::string addr = token;
  std::string prefix;
  if (auto slash = token.rfind('/'); slash != std::string::npos) {
    addr = token.substr(0, slash);
    prefix = token.substr(slash + 1);
    if (prefix.empty() || prefix.size() > 3 || prefix.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
  }
  Network n;
  if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']') {
    n.ipv6 = true;
    if (inet_pton(AF_INET6, addr.substr(1, addr.size() - 2).c_str(), &n.addr6) != 1) return std::nullopt;
    n.prefix = prefix.empty() ? 128 : std::stoi(prefix);
    if (n.prefix > 128) return std::nullopt;
    return n;
  }
  if (!is_ipv4(addr)) return std::nullopt;
  n.prefix = prefix.empty() ? 32 : std::stoi(prefix);
  if (n.prefix > 32) return std::nullopt;
  return n;
}

// The widest networks that may relay without AUTH. Anything wider covers a
// large part of the Internet: 0.0.0.0/0 and ::/0 let every client relay, and
// 0.0.0.0/1 + 128.0.0.0/1 (or a handful of /2../7) do the same in pieces, so
// the limit is per entry and well above /0. The private ranges fit: 10/8,
// 172.16/12, 192.168/16 and IPv6 unique local fc00::/7 (the one exception
// below /16: it is not routed on the Internet).
constexpr int kWidestIpv4 = 8;
constexpr int kWidestIpv6 = 16;

bool in_unique_local(const Network& n) { return n.prefix >= 7 && (n.addr6.s6_addr[0] & 0xfe) == 0xfc; }

bool open_relay(const Network& n) {
  if (!n.ipv6) return n.prefix < kWidestIpv4;
  return n.prefix < kWidestIpv6 && !in_unique_local(n);
}

// A SASL login Postfix can store as `user:password`: it splits at the first
// ':', and a blank would end the map key's value early.
bool valid_relay_user(const std::string& user) {
  if (user.empty() || user.size() > 256) return false;
  return std::none_of(user.begin(), user.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return c == ':' || c == ' ' || u < 0x20 || u == 0x7f;
  });
}

// Paths written into main.cf.
bool safe_config_path(const std::string& p) { return p.find_first_of("\n\r\t ,#\"\\") == std::string::npos; }

using Getter = std::function<std::optional<std::string>(const std::string&)>;

// The CA file the relay's certificate is checked against: a readable PEM
// file whose path can go into main.cf.
Status check_ca_file(const std::string& path, bool explicit_file) {
  const std::string field = explicit_file ? "VMAIL_RELAY_CA_FILE " + quote(path)
                                          : "VMAIL_RELAY_CA_FILE: not set, and the system CA bundle " + quote(path);
  if (!safe_config_path(path)) return Status(Code::kConfig, field + ": spaces, commas, quotes and '#' are not allowed");
  auto content = read_file_limited(path, size_t{1} << 20);  // a CA bundle is about 200 KiB
  if (!content.ok() || !*content || (*content)->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return Status(Code::kConfig, field + ": not a readable PEM certificate file" +
                                     (explicit_file ? "" : " (install ca-certificates or set VMAIL_RELAY_CA_FILE)"));
  }
  return Status::Ok();
}

Result<RelaySettings> load_relay(const Getter& get) {
  RelaySettings r;
  auto host = get("VMAIL_RELAY_HOST");
  auto user = get("VMAIL_RELAY_USER");
  auto file = get("VMAIL_RELAY_PASSWORD_FILE");
  if (!host) {
    for (const char* name :
         {"VMAIL_RELAY_USER", "VMAIL_RELAY_PASSWORD_FILE", "VMAIL_RELAY_TLS", "VMAIL_RELAY_CA_FILE"}) {
      if (get(name)) return Status(Code::kConfig, std::string(name) + ": set without VMAIL_RELAY_HOST");
    }
    return r;
  }
  auto parsed = parse_relay_host(*host);
  if (!parsed.ok()) return parsed.status();
  r.host = *parsed;
  if (user && !file) return Status(Code::kConfig, "VMAIL_RELAY_PASSWORD_FILE: not set (VMAIL_RELAY_USER needs it)");
  if (file && !user) return Status(Code::kConfig, "VMAIL_RELAY_USER: not set (VMAIL_RELAY_PASSWORD_FILE needs it)");
  if (user) {
    if (!valid_relay_user(*user)) {
      return Status(Code::kConfig, "VMAIL_RELAY_USER " + quote(*user) +
                                       ": must be 1-256 characters without ':', spaces or control characters");
    }
    r.user = *user;
    r.password_file = absolute_path(*file);
    // Checked now so a bad file stops the start; read again for each map write.
    auto password = read_relay_password(r.password_file);
    if (!password.ok()) return password.status();
  }
  if (auto level = get("VMAIL_RELAY_TLS")) {
    if (*level != "secure" && *level != "encrypt") {
      return Status(Code::kConfig, "VMAIL_RELAY_TLS " + quote(*level) +
                                       ": must be secure (verify the relay's certificate) or encrypt (do not)");
    }
    r.tls_level = *level;
  }
  auto ca = get("VMAIL_RELAY_CA_FILE");
  if (r.tls_level == "encrypt") {
    if (ca) {
      return Status(Code::kConfig,
                    "VMAIL_RELAY_CA_FILE: set with VMAIL_RELAY_TLS=encrypt, which verifies nothing "
                    "(use VMAIL_RELAY_TLS=secure, or drop the CA file)");
    }
    return r;
  }
  r.ca_file = ca ? absolute_path(*ca) : kSystemCaFile;
  if (Status s = check_ca_file(r.ca_file, ca.has_value()); !s.ok()) return s;
  return r;
}

}  // namespace

Result<std::string> parse_relay_host(const std::string& value) {
  auto bad = [&value](const std::string& why) {
    return Status(Code::kConfig, "VMAIL_RELAY_HOST " + quote(value) + ": " + why);
  };
  std::string host;
  std::string port;
  if (!value.empty() && value.front() == '[') {
    auto close = value.find(']');
    if (close == std::string::npos) return bad("missing ']'");
    host = value.substr(1, close - 1);
    if (host.rfind("ipv6:", 0) == 0) host = host.substr(5);
    if (close + 1 == value.size()) return bad("no port (write host:port, e.g. smtp.example.net:587)");
    if (value[close + 1] != ':') return bad("expected ':port' after ']'");
    port = value.substr(close + 2);
  } else {
    auto colon = value.rfind(':');
    if (colon == std::string::npos) return bad("no port (write host:port, e.g. smtp.example.net:587)");
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
    if (host.find(':') != std::string::npos) return bad("an IPv6 address goes in brackets: [address]:port");
  }
  auto p = parse_port("VMAIL_RELAY_HOST " + quote(value) + ": port", port);
  if (!p.ok()) return p.status();
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Brackets: Postfix connects to that host's address, without an MX lookup.
  if (is_ipv6(host)) return "[ipv6:" + host + "]:" + std::to_string(*p);
  // A host name is checked like a stored domain (LDH labels, at least two).
  if (is_ipv4(host) || row_safe_domain(host)) return "[" + host + "]:" + std::to_string(*p);
  return bad("not a host name or IP address");
}

Result<std::string> read_relay_password(const std::string& path) {
  auto password = read_secret_file("VMAIL_RELAY_PASSWORD_FILE", path);
  if (!password.ok()) return password.status();
  // Postfix's map would drop it.
  if (password->front() == ' ' || password->back() == ' ') {
    return Status(Code::kConfig, "VMAIL_RELAY_PASSWORD_FILE " + path +
                                     ": the password starts or ends with a space (Postfix's map would drop it)");
  }
  return password;
}

std::string relay_password_line(const RelaySettings& relay, const std::string& password) {
  return relay.host + " " + relay.user + ":" + password + "\n";
}

Result<std::string> parse_mynetworks(const std::string& value) {
  std::string out;
  std::string token;
  auto flush = [&]() -> Status {
    if (token.empty()) return Status::Ok();
    auto network = parse_network(token);
    if (!network) {
      return Status(Code::kConfig,
                    "VMAIL_MYNETWORKS " + quote(token) + ": not an IPv4 address or network, nor an [IPv6] one");
    }
    if (open_relay(*network)) {
      return Status(Code::kConfig, "VMAIL_MYNETWORKS " + quote(token) +
                                       ": an open relay (every client in it may relay without AUTH); IPv4 networks "
                                       "may be at most /" +
                                       std::to_string(kWidestIpv4) + ", IPv6 at most /" + std::to_string(kWidestIpv6) +
                                       " (fc00::/7 excepted)");
    }
    out += (out.empty() ? "" : " ") + token;
    token.clear();
    return Status::Ok();
  };
  for (char c : value) {
    if (c == ' ' || c == ',' || c == '\t') {
      if (Status s = flush(); !s.ok()) return s;
    } else {
      token += c;
    }
  }
  if (Status s = flush(); !s.ok()) return s;
  if (out.empty()) return Status(Code::kConfig, "VMAIL_MYNETWORKS " + quote(value) + ": no network given");
  return out;
}

Result<Endpoints> load_endpoints(const std::map<std::string, std::string>& flags, const EnvReader& env,
                                 const std::map<std::string, std::string>& recorded) {
  Endpoints e;
  std::string listen = lookup("VMAIL_LISTEN", flags, env, recorded).value_or("");
  if (listen == "*" || listen == "all") listen.clear();
  if (listen.size() > 2 && listen.front() == '[' && listen.back() == ']') listen = listen.substr(1, listen.size() - 2);
  if (!listen.empty()) {
    if (is_ipv6(listen)) {
      e.listen_ipv6 = true;
    } else if (!is_ipv4(listen)) {
      return Status(Code::kConfig, "VMAIL_LISTEN " + quote(listen) + ": not an IPv4 or IPv6 address");
    }
  }
  e.listen = listen;
  std::set<uint16_t> seen;
  // Each switch once: flag, environment, recorded, the table's default.
  std::map<std::string, bool> switches;
  for (const auto& spec : kServices) {
    for (const char* name : spec.switches) {
      if (switches.count(name) != 0) continue;
      std::string value = find_setting(name)->fallback;
      if (auto v = lookup(name, flags, env, recorded)) value = *v;
      auto on = parse_on_off(name, value);
      if (!on.ok()) return on.status();
      switches[name] = *on;
    }
  }
  e.spam = switches["VMAIL_SPAM"];
  e.greylist = switches["VMAIL_GREYLIST"];
  for (const auto& spec : kServices) {
    if (std::any_of(spec.switches.begin(), spec.switches.end(), [&](const char* s) { return !switches[s]; })) {
      e.ports.push_back(0);  // off
      continue;
    }
    // The default is the settings table's (checked there by settings_table_test).
    uint16_t port = *parse_port(spec.variable, find_setting(spec.variable)->fallback);
    if (auto v = lookup(spec.variable, flags, env, recorded)) {
      auto p = parse_port(spec.variable, *v);
      if (!p.ok()) return p.status();
      port = *p;
    }
    if (!seen.insert(port).second) {
      return Status(Code::kConfig,
                    std::string(spec.variable) + " " + std::to_string(port) + ": port already used by another service");
    }
    e.ports.push_back(port);
  }
  return e;
}

std::map<std::string, std::string> recordable_endpoints(const Endpoints& endpoints) {
  std::map<std::string, std::string> out = {{"VMAIL_LISTEN", endpoints.listen.empty() ? "*" : endpoints.listen}};
  // An off service's port is recorded empty (read back as no value).
  for (size_t i = 0; i < kServices.size(); ++i) {
    out[kServices[i].variable] = endpoints.ports[i] == 0 ? "" : std::to_string(endpoints.ports[i]);
  }
  // The switches as given (postgrey is off with VMAIL_SPAM=off whatever
  // VMAIL_GREYLIST says, so its port alone would not tell).
  out["VMAIL_SPAM"] = endpoints.spam ? "on" : "off";
  out["VMAIL_GREYLIST"] = endpoints.greylist ? "on" : "off";
  out["VMAIL_DANE"] = endpoints.on("resolver") ? "on" : "off";
  out["VMAIL_MTA_STS"] = endpoints.on("mta-sts") ? "on" : "off";
  return out;
}

// VMAIL_BAN_* and VMAIL_SEND_LIMIT (each checked by the table already).
template <typename Get>
Status load_abuse_settings(const Get& get, LaunchSettings* l) {
  if (auto v = get("VMAIL_BAN_FAILURES")) l->ban.failures = std::stoi(*v);
  if (auto v = get("VMAIL_BAN_WINDOW")) l->ban.window = std::stoll(*v);
  l->ban.ban_time = l->base.ban_time;
  l->ban_ignore = get("VMAIL_BAN_IGNORE").value_or(find_setting("VMAIL_BAN_IGNORE")->fallback);
  auto networks = parse_network_list(l->ban_ignore, "VMAIL_BAN_IGNORE");
  if (!networks.ok()) return Status(Code::kConfig, networks.status().message());
  return Status::Ok();
}

Result<LaunchSettings> load_launch_settings(const std::map<std::string, std::string>& flags, const EnvReader& env) {
  LaunchSettings l;
  auto base = load_settings(flags, env);
  if (!base.ok()) return base.status();
  if (!base->upstream.empty()) {
    if (Status st = pg::check_url(base->upstream, "VMAIL_DB", env); !st.ok()) return st;
  }
  l.base = std::move(*base);
  const Settings& s = l.base;
  auto get = [&](const std::string& name) { return lookup(name, flags, env, {}); };
  // The table's own checks of the launcher's settings (load_settings did the
  // shared ones); what needs more than libc follows below.
  for (const SettingInfo& info : settings_table()) {
    if ((info.scope & kScopeLaunch) == 0 || (info.scope & kScopeVmail) != 0) continue;
    if (auto v = get(info.name)) {
      if (Status st = check_setting(info, *v); !st.ok()) return st;
    }
  }

  auto domain = get("MAIL_DOMAIN");
  if (!domain) return Status(Code::kConfig, "MAIL_DOMAIN: not set (the primary mail domain, e.g. example.com)");
  auto normalized = normalize_domain(*domain, "MAIL_DOMAIN");
  if (!normalized.ok()) return Status(Code::kConfig, normalized.status().message());
  l.mail_domain = *normalized;

  if (auto name = get("MAIL_SERVER_NAME")) {
    auto n = normalize_domain(*name, "MAIL_SERVER_NAME");
    if (!n.ok()) return Status(Code::kConfig, n.status().message());
    l.server_name = *n;
  } else {
    l.server_name = "mail." + l.mail_domain;
  }

  auto mynetworks = parse_mynetworks(get("VMAIL_MYNETWORKS").value_or("127.0.0.0/8 [::1]/128"));
  if (!mynetworks.ok()) return mynetworks.status();
  l.mynetworks = *mynetworks;

  auto endpoints = load_endpoints(flags, env);
  if (!endpoints.ok()) return endpoints.status();
  l.endpoints = std::move(*endpoints);

  if (auto resolver = get("VMAIL_DNS_RESOLVER")) {
    auto r = parse_dns_resolver(*resolver);
    if (!r.ok()) return r.status();
    l.dns_resolver = *r;
  }
  if (auto safe = get("VMAIL_DKIM_REQUIRE_SAFE_KEYS")) {
    auto b = parse_boolean(*safe, true, "VMAIL_DKIM_REQUIRE_SAFE_KEYS");
    if (!b.ok()) return Status(Code::kConfig, b.status().message());
    l.dkim_require_safe_keys = *b;
  }

  const std::string cert_base = s.state_dir + "/certificates/" + l.mail_domain;
  auto cert = get("SSL_CERT_FILE");
  auto key = get("SSL_KEY_FILE");
  auto chain = get("SSL_CHAIN_FILE");
  l.cert_explicit = cert.has_value() || key.has_value();
  l.key_explicit = key.has_value();
  l.chain_explicit = chain.has_value();
  l.cert_source = cert ? absolute_path(*cert) : cert_base + "/cert.pem";
  l.key_source = key ? absolute_path(*key) : cert_base + "/privkey.pem";
  l.chain_source = chain ? absolute_path(*chain) : cert_base + "/fullchain.pem";

  auto relay = load_relay(get);
  if (!relay.ok()) return relay.status();
  l.relay = std::move(*relay);

  if (Status st = load_abuse_settings(get, &l); !st.ok()) return st;

  if (auto v = get("VMAIL_CERT_CHECK_INTERVAL")) {
    auto n = parse_seconds("VMAIL_CERT_CHECK_INTERVAL", *v, 1, 3600);
    if (!n.ok()) return n.status();
    l.cert_check_interval = *n;
  }

  // Postfix's queue holds accepted mail not yet delivered: it lives on the
  // state volume so that re-creating the container loses none of it.
  auto queue = get("VMAIL_QUEUE_DIR");
  l.queue_dir = queue ? absolute_path(*queue) : s.state_dir + "/queue";
  l.postfix_data_dir = s.rooted("/var/lib/postfix");
  l.dovecot_base_dir = s.rooted("/run/dovecot");
  l.dovecot_state_dir = s.rooted("/var/lib/dovecot");
  l.cert_dir = s.rooted("/etc/ssl/certs/mail");
  l.self_signed_dir = s.state_dir + "/self-signed";
  l.dh_file = s.state_dir + "/dh.pem";
  l.backup_dir = s.state_dir + "/backups";
  l.lock_file = s.state_dir + "/vmail-launch.pid";
  l.relay_password_map = s.postfix_dir + "/relay_passwords";
  l.opendkim_run_dir = s.rooted("/run/opendkim");
  l.milter_run_dir = s.rooted("/run/vmail-milter");
  l.unbound_dir = s.rooted("/etc/unbound");
  l.mta_sts_dir = s.rooted("/etc/mta-sts");
  if (auto conf = get("VMAIL_RESOLVER_CONF")) {
    l.resolver_conf = absolute_path(*conf);
    if (!safe_config_path(l.resolver_conf)) {
      return Status(Code::kConfig, "VMAIL_RESOLVER_CONF " + quote(l.resolver_conf) +
                                       ": spaces, commas, quotes and '#' are not allowed");
    }
  }
  l.auth_wait_program = program_beside_this_one("vmail-auth-wait");
  if (auto v = get("VMAIL_GREYLIST_DELAY")) {
    auto n = parse_seconds("VMAIL_GREYLIST_DELAY", *v, 1, 86400);
    if (!n.ok()) return n.status();
    l.greylist_delay = *n;
  }
  l.rspamd_dir = s.rooted("/etc/rspamd");
  l.redis_dir = s.rooted("/etc/redis");
  l.rspamd_run_dir = s.rooted("/run/rspamd");
  l.rspamd_db_dir = s.state_dir + "/rspamd";
  l.redis_data_dir = s.state_dir + "/redis";
  l.postgrey_db_dir = s.state_dir + "/postgrey";
  l.policy_nonce_file = s.state_dir + "/auth-policy-nonce";

  // Paths end up in config files: refuse characters that would break a line.
  for (const std::string* p : std::initializer_list<const std::string*>{
           &s.state_dir, &s.mail_dir, &s.postfix_dir, &s.dovecot_dir, &s.opendkim_dir, &l.queue_dir}) {
    if (!safe_config_path(*p)) {
      return Status(Code::kConfig, "path " + quote(*p) + ": spaces, commas, quotes and '#' are not allowed");
    }
  }
  // Dovecot splits a checkpassword command at spaces and expands '%' in it.
  if (!safe_config_path(l.auth_wait_program) || l.auth_wait_program.find('%') != std::string::npos) {
    return Status(Code::kConfig, "program " + quote(l.auth_wait_program) +
                                     ": installed in a folder whose path has a space, comma, quote, '#' or '%'");
  }
  return l;
}

std::string program_beside_this_one(const std::string& name) {
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  return self.substr(0, self.rfind('/') + 1) + name;
}

std::string opendkim_socket(const Settings& settings) { return settings.rooted("/run/opendkim/opendkim.sock"); }
std::string vmail_milter_socket(const Settings& settings) { return settings.rooted("/run/vmail-milter/milter.sock"); }

Result<bool> parse_on_off(const std::string& name, const std::string& value) {
  auto b = parse_boolean(value, true, name);  // on/off and the boolean words
  if (!b.ok()) return Status(Code::kConfig, name + " " + quote(value) + ": must be on or off");
  return *b;
}

Result<std::string> parse_dns_resolver(const std::string& value) {
  auto bad = [&](const std::string& why) {
    return Status(Code::kConfig, "VMAIL_DNS_RESOLVER " + quote(value) + ": " + why);
  };
  std::string addr = value;
  std::string port = "53";
  if (!value.empty() && value.front() == '[') {
    auto close = value.find(']');
    if (close == std::string::npos) return bad("missing ']'");
    addr = value.substr(1, close - 1);
    std::string rest = value.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return bad("expected :PORT after ']'");
      port = rest.substr(1);
    }
    if (!is_ipv6(addr)) return bad("not an IPv6 address");
  } else {
    if (auto colon = value.find(':'); colon != std::string::npos) {
      addr = value.substr(0, colon);
      port = value.substr(colon + 1);
    }
    if (!is_ipv4(addr)) return bad("not an IP address (IPv6: [ADDRESS]:PORT)");
  }
  auto p = parse_port("VMAIL_DNS_RESOLVER", port);
  if (!p.ok()) return p.status();
  return addr + "@" + std::to_string(*p);
}

}  // namespace vmail
