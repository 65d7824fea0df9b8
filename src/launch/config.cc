#include "launch/config.h"

#include <arpa/inet.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <kainjow/mustache.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "core/files.h"
#include "core/process.h"
#include "exporters/export.h"
#include "exporters/exported_files.h"
#include "exporters/postfix_maps.h"
#include "launch/prepare.h"

namespace vmail {
namespace {

// Where each template lands: the folder setting and the file below it.
std::string target_path(const LaunchSettings& launch, const std::string& name) {
  const std::string postfix = "postfix/";
  const std::string dovecot = "dovecot/";
  if (name.rfind(postfix, 0) == 0) return launch.base.postfix_dir + "/" + name.substr(postfix.size());
  if (name == "dovecot/dovecot.conf") return dovecot_config_file(launch);
  if (name.rfind(dovecot, 0) == 0) return launch.base.dovecot_dir + "/conf.d/" + name.substr(dovecot.size());
  const std::string opendkim = "opendkim/";
  if (name.rfind(opendkim, 0) == 0) return launch.base.opendkim_dir + "/" + name.substr(opendkim.size());
  if (name == "follower/follower.conf") return follower_config_file(launch);
  if (name == "unbound/unbound.conf") return unbound_config_file(launch);
  if (name == "mta-sts/mta-sts-daemon.yml") return mta_sts_config_file(launch);
  const std::string rspamd = "rspamd/";
  if (name.rfind(rspamd, 0) == 0) return launch.rspamd_dir + "/" + name.substr(rspamd.size());
  if (name == "redis/redis.conf") return redis_config_file(launch);
  return "";
}

// The spam layer's templates (rspamd's local configuration, its Sieve
// scripts, Redis), rendered only with VMAIL_SPAM=on.
bool spam_template(const std::string& name) { return name.rfind("rspamd/", 0) == 0 || name.rfind("redis/", 0) == 0; }

// The first non-empty line of a tool's output, for a one-line message.
std::string first_line(const std::string& output) {
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) return line;
  }
  return "(no output)";
}

// The name of the vmail account (the launcher creates it before rendering),
// for Dovecot settings that take a user name; the uid itself otherwise.
std::string account_name(uint32_t uid) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buf(4096);
  if (getpwuid_r(uid, &entry, buf.data(), buf.size(), &found) == 0 && found != nullptr) return found->pw_name;
  return std::to_string(uid);
}

// libunbound configuration for OpenDKIM's key lookups when VMAIL_DNS_RESOLVER
// is set: everything goes to that resolver. A loopback resolver needs
// do-not-query-localhost off; no trust anchor, so no DNSSEC validation.
ConfigFile resolver_config(const LaunchSettings& launch) {
  return {opendkim_resolver_file(launch),
          "# Rendered by vmail-launch from VMAIL_DNS_RESOLVER.\nserver:\n"
          "  do-not-query-localhost: no\n"
          "forward-zone:\n  name: \".\"\n  forward-addr: " +
              launch.dns_resolver + "\n"};
}

// The system's resolvers (/etc/resolv.conf) for OpenDKIM's Nameservers:
// Debian's OpenDKIM resolves through libunbound, which ignores resolv.conf
// and would query the root servers itself (often blocked in containers).
std::string system_nameservers() {
  auto content = read_file_limited("/etc/resolv.conf", 64 * 1024);  // a few lines; a bigger one is ignored
  if (!content.ok() || !*content) return "";
  std::istringstream in(**content);
  std::string list;
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string key, addr;
    if (!(words >> key >> addr) || key != "nameserver") continue;
    unsigned char buf[sizeof(in6_addr)];
    if (inet_pton(AF_INET, addr.c_str(), buf) != 1 && inet_pton(AF_INET6, addr.c_str(), buf) != 1) continue;
    list += (list.empty() ? "" : ",") + addr;
  }
  return list;
}

// VMAIL_DNS_RESOLVER: the libunbound file; else the system's resolvers.
std::string opendkim_resolver_line(const LaunchSettings& launch) {
  if (!launch.dns_resolver.empty()) return "ResolverConfiguration   " + opendkim_resolver_file(launch);
  std::string system = system_nameservers();
  if (system.empty()) return "# Nameservers: none in /etc/resolv.conf; libunbound resolves by itself";
  return "Nameservers             " + system;
}

}  // namespace

std::string dane_resolver_warning(const LaunchSettings& launch) {
  if (!launch.relay.host.empty() || !launch.endpoints.on("resolver")) return "";
  std::string system = system_nameservers();
  std::string first = system.substr(0, system.find(','));
  if (launch.endpoints.port("resolver") == 53 && first == "127.0.0.1") return "";
  return "VMAIL_DANE=on, but Postfix asks " + (first.empty() ? std::string("no resolver") : first) +
         " (/etc/resolv.conf), not the validating resolver on 127.0.0.1:" +
         std::to_string(launch.endpoints.port("resolver")) +
         ": outbound TLS stays opportunistic (compose: dns: 127.0.0.1, dns_opt: trust-ad)";
}

std::string opendkim_config_file(const LaunchSettings& launch) { return launch.base.opendkim_dir + "/opendkim.conf"; }
std::string opendkim_resolver_file(const LaunchSettings& launch) { return launch.base.opendkim_dir + "/unbound.conf"; }

std::string dovecot_config_file(const LaunchSettings& launch) { return launch.base.dovecot_dir + "/dovecot.conf"; }

std::string follower_config_file(const LaunchSettings& launch) { return launch.base.state_dir + "/follower.conf"; }

std::string unbound_config_file(const LaunchSettings& launch) { return launch.unbound_dir + "/unbound.conf"; }

std::string mta_sts_config_file(const LaunchSettings& launch) { return launch.mta_sts_dir + "/mta-sts-daemon.yml"; }
std::string redis_config_file(const LaunchSettings& launch) { return launch.redis_dir + "/redis.conf"; }

std::vector<std::string> spam_sieve_scripts(const LaunchSettings& launch) {
  return {launch.rspamd_dir + "/sieve/spam.sieve", launch.rspamd_dir + "/sieve/learn-spam.sieve",
          launch.rspamd_dir + "/sieve/learn-ham.sieve"};
}

std::map<std::string, bool> template_switches(const LaunchSettings& launch) {
  return {{"spam", launch.endpoints.spam}, {"greylist", launch.endpoints.spam && launch.endpoints.greylist}};
}

std::vector<std::string> daemon_environment() { return {std::string("PATH=") + kSafePath, "LANG=C.UTF-8"}; }

std::map<std::string, std::string> template_values(const LaunchSettings& launch, const TlsFiles& tls) {
  const Endpoints& e = launch.endpoints;
  std::map<std::string, std::string> v = {
      {"queue_directory", launch.queue_dir},
      {"data_directory", launch.postfix_data_dir},
      {"server_name", launch.server_name},
      {"mail_domain", launch.mail_domain},
      {"mynetworks", launch.mynetworks},
      {"inet_interfaces", e.listen.empty() ? "all" : e.listen},
      {"inet_protocols", e.listen.empty() ? "all"
                         : e.listen_ipv6  ? "ipv6"
                                          : "ipv4"},
      {"map_type", launch.base.map_type},
      {"postfix_dir", launch.base.postfix_dir},
      {"ssl_key", tls.key},
      {"ssl_cert", tls.cert},
      {"ssl_fullchain", tls.fullchain},
      {"ssl_pair", tls.pair},
      {"dh_file", launch.dh_file},
      {"tls_cipher_list", kTlsCipherList},
      {"dovecot_listen", e.listen.empty() ? "*, ::" : e.listen},
      {"dovecot_base_dir", launch.dovecot_base_dir},
      {"dovecot_state_dir", launch.dovecot_state_dir},
      {"dovecot_dir", launch.base.dovecot_dir},
      {"dovecot_config", dovecot_config_file(launch)},
      {"quota_warning_script", launch.base.dovecot_dir + "/conf.d/quota-warning.sh"},
      {"auth_wait_program", launch.auth_wait_program},
      {"policy_nonce_file", launch.policy_nonce_file},
      {"vmail_user", account_name(launch.base.uid)},
      {"smtp_host", e.listen_ipv6 ? "[" + e.connect_host() + "]" : e.connect_host()},
      {"postfix_private_dir", launch.queue_dir + "/private"},
      {"uid", std::to_string(launch.base.uid)},
      {"gid", std::to_string(launch.base.gid)},
      // Dovecot needs a distinct instance name per base_dir for doveadm.
      {"instance_name", "vmail"},
      // Outbound: direct (relayhost empty, opportunistic TLS) or through the
      // relay with mandatory TLS, its certificate verified (VMAIL_RELAY_TLS).
      {"relay_host", launch.relay.host},
      {"smtp_tls_security_level", !launch.relay.host.empty() ? launch.relay.tls_level
                                  : e.on("resolver")         ? "dane"
                                                             : "may"},
      {"smtp_dns_support_level", launch.relay.host.empty() && e.on("resolver") ? "dnssec" : "enabled"},
      {"smtp_tls_policy_maps", launch.relay.host.empty() && e.on("mta-sts")
                                   ? "socketmap:inet:127.0.0.1:" + std::to_string(e.port("mta-sts")) + ":postfix"
                                   : ""},
      {"relay_ca_file", launch.relay.host.empty() ? kSystemCaFile : launch.relay.ca_file},
      {"unbound_dir", launch.unbound_dir},
      {"resolver_include",
       launch.resolver_conf.empty() ? "# (no VMAIL_RESOLVER_CONF)" : "include: \"" + launch.resolver_conf + "\""},
      {"smtp_sasl_auth_enable", launch.relay.user.empty() ? "no" : "yes"},
      {"smtp_sasl_password_maps",
       launch.relay.user.empty() ? "" : launch.base.map_type + ":" + launch.relay_password_map},
      {"opendkim_dir", launch.base.opendkim_dir},
      {"opendkim_require_safe_keys", opendkim_require_safe_keys(launch) ? "yes" : "no"},
      {"opendkim_socket", opendkim_socket(launch.base)},
      {"opendkim_pid_file", launch.opendkim_run_dir + "/opendkim.pid"},
      {"vmail_milter_socket", vmail_milter_socket(launch.base)},
      {"opendkim_resolver", opendkim_resolver_line(launch)},
      {"follower_db", launch.base.upstream},
      {"follower_password_file", launch.base.db_password_file},
      {"state_dir", launch.base.state_dir},
      {"mail_dir", launch.base.mail_dir},
      {"password_scheme", std::string(scheme_name(launch.base.scheme))},
      {"rspamd_dir", launch.rspamd_dir},
      {"redis_data_dir", launch.redis_data_dir},
  };
  // Where each exported file is, from the table of exported files
  // (exporters/exported_files.h): file_NAME its path, map_NAME a Postfix
  // map as main.cf names it (TYPE:PATH); '-' becomes '_' (file_alias_quotas).
  for (const ExportedFileSpec& spec : exported_files()) {
    std::string key = spec.name;
    std::replace(key.begin(), key.end(), '-', '_');
    v["file_" + key] = export_path(spec, launch.base);
    if (spec.kind == ExportKind::kPostfixMap) {
      v["map_" + key] = export_map_type(spec, launch.base) + ":" + export_path(spec, launch.base);
    }
  }
  for (size_t i = 0; i < kServices.size(); ++i) {
    std::string key = std::string(kServices[i].name) + "_port";
    std::replace(key.begin(), key.end(), '-', '_');  // quota-status -> quota_status_port
    v[key] = std::to_string(e.ports[i]);
  }
  return v;
}

Result<std::vector<ConfigFile>> render_configs(const LaunchSettings& launch, const TlsFiles& tls) {
  kainjow::mustache::data data;
  for (const auto& [name, value] : template_values(launch, tls)) data.set(name, value);
  for (const auto& [name, on] : template_switches(launch)) data.set(name, on);
  std::vector<ConfigFile> out;
  for (const auto& t : embedded_templates()) {
    kainjow::mustache::mustache tmpl(t.text);
    if (!tmpl.is_valid()) {
      return Status(Code::kInternal, "template " + t.name + ": " + tmpl.error_message());
    }
    // Config files are not HTML: values go in verbatim (they were checked
    // when the settings were loaded).
    tmpl.set_custom_escape([](const std::string& s) { return s; });
    // A node of a SQLite store has no follower.
    if (t.name.rfind("follower/", 0) == 0 && launch.base.upstream.empty()) continue;
    // Daemons that are off get no config.
    if (t.name.rfind("unbound/", 0) == 0 && !launch.endpoints.on("resolver")) continue;
    if (t.name.rfind("mta-sts/", 0) == 0 && !launch.endpoints.on("mta-sts")) continue;
    if (spam_template(t.name) && !launch.endpoints.spam) continue;
    std::string path = target_path(launch, t.name);
    if (path.empty()) return Status(Code::kInternal, "template " + t.name + ": no target folder");
    // Dovecot runs the learning script itself (sieve_pipe_bin_dir).
    out.push_back({path, tmpl.render(data), t.name.rfind("rspamd/bin/", 0) == 0 ? 0755u : 0644u});
  }
  if (!launch.dns_resolver.empty()) out.push_back(resolver_config(launch));
  return out;
}

Result<std::vector<std::string>> write_configs(const std::vector<ConfigFile>& files) {
  std::vector<std::string> written;
  for (const auto& f : files) {
    auto current = read_file(f.path);
    if (current.ok() && *current && **current == f.content) continue;
    if (Status s = make_dirs(dir_of(f.path), 0755); !s.ok()) return s;
    FileOptions options;
    options.mode = f.mode;
    if (Status s = write_file_atomic(f.path, f.content, options); !s.ok()) return s;
    written.push_back(f.path);
  }
  return written;
}

Result<bool> write_relay_password_map(const LaunchSettings& launch) {
  if (launch.relay.user.empty()) {
    const std::string db_file = map_database_path(launch.relay_password_map, launch.base.map_type);
    struct stat st;
    bool present = ::stat(launch.relay_password_map.c_str(), &st) == 0 || ::stat(db_file.c_str(), &st) == 0;
    if (!present) return false;
    if (Status s = remove_private_map(launch.relay_password_map, launch.base.map_type); !s.ok()) return s;
    return true;
  }
  auto password = read_relay_password(launch.relay.password_file);
  if (!password.ok()) return password.status();
  return write_private_map(launch.base, launch.relay_password_map, relay_password_line(launch.relay, *password), 0600);
}

// The global Sieve scripts are compiled here, as root: Dovecot runs them as
// the vmail user, which cannot write the compiled binary beside them (a
// root folder) and would compile them again for every message. A script
// that does not compile is a configuration error.
Status compile_spam_sieve(const LaunchSettings& launch) {
  for (const auto& script : spam_sieve_scripts(launch)) {
    auto r = run_process({"sievec", "-c", dovecot_config_file(launch), script}, daemon_environment());
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return Status(Code::kConfig, script + ": sievec failed: " + first_line(r->output));
  }
  return Status::Ok();
}

Status validate_configs(const LaunchSettings& launch, std::vector<std::string>* warnings) {
  auto postfix = run_process({"postfix", "-c", launch.base.postfix_dir, "check"}, daemon_environment());
  if (!postfix.ok()) return postfix.status();
  if (postfix->exit_code != 0) {
    return Status(Code::kConfig,
                  launch.base.postfix_dir + "/main.cf: postfix check failed: " + first_line(postfix->output));
  }
  if (warnings) {
    std::istringstream in(postfix->output);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) warnings->push_back("postfix check: " + line);
    }
  }
  // doveconf does not look at the checkpassword program the config names.
  if (::access(launch.auth_wait_program.c_str(), X_OK) != 0) {
    return Status(Code::kConfig, launch.auth_wait_program + ": " + std::strerror(errno) +
                                     " (vmail-auth-wait must be installed beside vmail-launch; dovecot.conf names it)");
  }
  auto dovecot = run_process({"doveconf", "-c", dovecot_config_file(launch), "-n"}, daemon_environment());
  if (!dovecot.ok()) return dovecot.status();
  if (dovecot->exit_code != 0) {
    return Status(Code::kConfig, dovecot_config_file(launch) + ": doveconf failed: " + first_line(dovecot->output));
  }
  // -n: parse the configuration and exit.
  auto opendkim = run_process({"opendkim", "-n", "-x", opendkim_config_file(launch)}, daemon_environment());
  if (!opendkim.ok()) return opendkim.status();
  if (opendkim->exit_code != 0) {
    return Status(Code::kConfig,
                  opendkim_config_file(launch) + ": opendkim -n failed: " + first_line(opendkim->output));
  }
  // The resolver's config with VMAIL_RESOLVER_CONF's file in it: a mistake
  // there stops the start with unbound's own line.
  if (launch.endpoints.on("resolver")) {
    auto unbound = run_process({"unbound-checkconf", unbound_config_file(launch)}, daemon_environment());
    if (!unbound.ok()) return unbound.status();
    if (unbound->exit_code != 0) {
      return Status(Code::kConfig,
                    unbound_config_file(launch) + ": unbound-checkconf failed: " + first_line(unbound->output));
    }
  }
  if (launch.endpoints.spam) return compile_spam_sieve(launch);
  return Status::Ok();
}

}  // namespace vmail
