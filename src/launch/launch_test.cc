// Launcher units without daemons: settings, template rendering, certificate checks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "core/files.h"
#include "launch/config.h"
#include "launch/launch_settings.h"
#include "launch/prepare.h"
#include "launch/tls.h"
#include "tests/test_util.h"

namespace vmail {
namespace {

std::map<std::string, std::string> base_env() { return {{"VMAIL_ROOT", "/srv/one"}, {"MAIL_DOMAIN", "Example.TEST"}}; }

TEST(LaunchSettingsTest, DefaultsUnderRoot) {
  auto l = load_launch_settings({}, map_env(base_env()));
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->mail_domain, "example.test");
  EXPECT_EQ(l->server_name, "mail.example.test");
  EXPECT_EQ(l->queue_dir, "/srv/one/data/state/queue");
  EXPECT_EQ(l->cert_dir, "/srv/one/etc/ssl/certs/mail");
  EXPECT_EQ(l->cert_source, "/srv/one/data/state/certificates/example.test/cert.pem");
  EXPECT_EQ(l->endpoints.port("smtp"), 25);
  EXPECT_EQ(l->endpoints.port("pop3s"), 995);
  EXPECT_EQ(l->endpoints.connect_host(), "127.0.0.1");
  EXPECT_EQ(l->mynetworks, "127.0.0.0/8 [::1]/128");
}

TEST(LaunchSettingsTest, QueueFollowsTheStateVolumeOrItsOwnSetting) {
  auto env = base_env();
  env["VMAIL_STATE_DIR"] = "/vol/state";
  auto l = load_launch_settings({}, map_env(env));
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->queue_dir, "/vol/state/queue");
  env["VMAIL_QUEUE_DIR"] = "/vol/queue";
  l = load_launch_settings({}, map_env(env));
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->queue_dir, "/vol/queue");
  env["VMAIL_QUEUE_DIR"] = "/vol/my queue";
  EXPECT_FALSE(load_launch_settings({}, map_env(env)).ok());
}

void write_file(const std::string& path) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << "queue file";
}

// An upgraded host install: the old queue at $VMAIL_ROOT/var/spool/postfix
// moves to the state volume once, and never over a queue holding mail.
TEST(LegacyQueueTest, QueuedMailMovesToTheStateVolumeOnce) {
  testing::TempDir root;
  auto env = base_env();
  env["VMAIL_ROOT"] = root.path();
  auto l = load_launch_settings({}, map_env(env));
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(adopt_legacy_queue(*l), "");  // nothing anywhere
  const std::string legacy = root.path() + "/var/spool/postfix";
  write_file(legacy + "/deferred/A/A1B2C3");
  write_file(legacy + "/defer/A/A1B2C3");
  write_file(legacy + "/pid/master.pid");                           // not a queue: stays
  std::filesystem::create_directories(l->queue_dir + "/deferred");  // an empty tree from `postfix check`
  std::string said = adopt_legacy_queue(*l);
  EXPECT_NE(said.find("moved to " + l->queue_dir + " (deferred, defer)"), std::string::npos) << said;
  EXPECT_TRUE(std::filesystem::exists(l->queue_dir + "/deferred/A/A1B2C3"));
  EXPECT_TRUE(std::filesystem::exists(l->queue_dir + "/defer/A/A1B2C3"));
  EXPECT_FALSE(std::filesystem::exists(legacy + "/deferred"));
  EXPECT_TRUE(std::filesystem::exists(legacy + "/pid/master.pid"));

  write_file(legacy + "/incoming/B9");  // the new queue holds mail now: left alone
  EXPECT_EQ(adopt_legacy_queue(*l), "");
  EXPECT_TRUE(std::filesystem::exists(legacy + "/incoming/B9"));
}

TEST(LaunchSettingsTest, RejectsBadValues) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"MAIL_DOMAIN", ""},
      {"MAIL_DOMAIN", "no spaces.test"},
      {"VMAIL_SMTP_PORT", "0"},
      {"VMAIL_SMTP_PORT", "65536"},
      {"VMAIL_IMAP_PORT", "25"},
      {"VMAIL_LISTEN", "localhost"},
      {"VMAIL_MYNETWORKS", "0/0"},
      {"VMAIL_MYNETWORKS", "hash:/etc/x"},
      {"VMAIL_MYNETWORKS", "10.0.0.0/33"},
      {"VMAIL_UID", "0"},
      {"VMAIL_ROOT", "/with space"},
      {"VMAIL_DNS_RESOLVER", "dns.example"},
      {"VMAIL_DNS_RESOLVER", "127.0.0.1:0"},
      {"VMAIL_DNS_RESOLVER", "::1"},
      {"VMAIL_DNS_RESOLVER", "[::1"},
      {"VMAIL_DNS_RESOLVER", "[::1]5353"},
      {"VMAIL_OPENDKIM_DIR", "/a,b"},
      {"VMAIL_DKIM_REQUIRE_SAFE_KEYS", "maybe"},
  };
  for (const auto& [name, value] : bad) {
    auto env = base_env();
    env[name] = value;
    if (name == "MAIL_DOMAIN" && value.empty()) env.erase(name);
    auto l = load_launch_settings({}, map_env(env));
    ASSERT_FALSE(l.ok()) << name << "=" << value;
    EXPECT_EQ(l.status().code(), Code::kConfig) << name;
    EXPECT_EQ(l.status().message().find('\n'), std::string::npos);
  }
}

// SPEC "Mail policy": a VMAIL_MYNETWORKS that lets every client relay is an
// open relay, refused with one line naming the setting. Per entry: IPv4 wider
// than /8, IPv6 wider than /16 outside unique local fc00::/7.
TEST(LaunchSettingsTest, RefusesOpenRelayNetworks) {
  for (const std::string open : {"0.0.0.0/0", "[::]/0", "[::0]/0", "1.2.3.4/0", "0.0.0.0/1", "127.0.0.1/32 0.0.0.0/0",
                                 "0.0.0.0/1,128.0.0.0/1", "10.0.0.0/7", "64.0.0.0/2", "[2000::]/3", "[2001:db8::]/15",
                                 "[::1]/128 [::ffff:0:0]/0", "[fc00::]/6", "[fe80::]/9"}) {
    auto r = parse_mynetworks(open);
    ASSERT_FALSE(r.ok()) << open;
    EXPECT_EQ(r.status().code(), Code::kConfig) << open;
    EXPECT_EQ(r.status().message().rfind("VMAIL_MYNETWORKS", 0), 0u) << r.status().message();
    EXPECT_NE(r.status().message().find("open relay"), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
    auto env = base_env();
    env["VMAIL_MYNETWORKS"] = open;
    EXPECT_EQ(load_launch_settings({}, map_env(env)).status().code(), Code::kConfig) << open;
  }
  const std::vector<std::pair<std::string, std::string>> good = {
      {"127.0.0.0/8 [::1]/128", "127.0.0.0/8 [::1]/128"},
      {"10.0.0.0/8", "10.0.0.0/8"},
      {"172.16.0.0/12,192.168.0.0/16", "172.16.0.0/12 192.168.0.0/16"},
      {"203.0.113.7", "203.0.113.7"},
      {"[2001:db8::]/16 [2001:db8:1::]/48", "[2001:db8::]/16 [2001:db8:1::]/48"},
      {"[fc00::]/7 [FD00::]/8", "[fc00::]/7 [FD00::]/8"},
      {"[::1]", "[::1]"},
  };
  for (const auto& [in, out] : good) {
    auto r = parse_mynetworks(in);
    ASSERT_TRUE(r.ok()) << in << ": " << r.status().message();
    EXPECT_EQ(*r, out);
  }
}

TEST(LaunchSettingsTest, FlagsAndRecordedEndpoints) {
  auto e = load_endpoints({{"VMAIL_IMAPS_PORT", "1993"}}, map_env({{"VMAIL_SMTP_PORT", "2525"}}),
                          {{"VMAIL_SMTP_PORT", "9"}, {"VMAIL_POP3_PORT", "1110"}, {"VMAIL_LISTEN", "::1"}});
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->port("imaps"), 1993);
  EXPECT_EQ(e->port("smtp"), 2525);  // environment beats recorded
  EXPECT_EQ(e->port("pop3"), 1110);
  EXPECT_TRUE(e->listen_ipv6);
  auto back = load_endpoints({}, map_env({}), recordable_endpoints(*e));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ports, e->ports);
}

// A service with a switch (VMAIL_DANE runs the resolver) is off as port 0:
// no config, no port to check, left out of health; the switch is recorded
// so `vmail health` knows it too.
TEST(LaunchSettingsTest, ASwitchedOffServiceHasNoPort) {
  auto e = load_endpoints({}, map_env({{"VMAIL_DANE", "off"}, {"VMAIL_RESOLVER_PORT", "5353"}}));
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->port("resolver"), 0);
  EXPECT_FALSE(e->on("resolver"));
  EXPECT_TRUE(e->on("mta-sts"));
  EXPECT_EQ(e->port("mta-sts"), 8461);
  auto recorded = recordable_endpoints(*e);
  EXPECT_EQ(recorded["VMAIL_DANE"], "off");
  EXPECT_EQ(recorded["VMAIL_MTA_STS"], "on");
  EXPECT_EQ(recorded["VMAIL_RESOLVER_PORT"], "");
  auto back = load_endpoints({}, map_env({}), recorded);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ports, e->ports);
  // The flag beats the environment, as for every setting.
  auto on = load_endpoints({{"VMAIL_DANE", "on"}}, map_env({{"VMAIL_DANE", "off"}}));
  ASSERT_TRUE(on.ok());
  EXPECT_EQ(on->port("resolver"), 53);

  for (const char* bad : {"maybe", "2", "offf"}) {
    auto r = load_endpoints({}, map_env({{"VMAIL_DANE", bad}}));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kConfig);
    EXPECT_NE(r.status().message().find("VMAIL_DANE"), std::string::npos) << r.status().message();
  }
  // Off services never clash with a port in use by another.
  auto shared = load_endpoints({}, map_env({{"VMAIL_MTA_STS", "off"}, {"VMAIL_MTA_STS_PORT", "25"}}));
  EXPECT_TRUE(shared.ok()) << shared.status().message();

  auto l = load_launch_settings({}, map_env([] {
                                  auto env = base_env();
                                  env["VMAIL_DANE"] = "off";
                                  return env;
                                }()));
  ASSERT_TRUE(l.ok()) << l.status().message();
  auto files = render_configs(*l, TlsFiles{});
  ASSERT_TRUE(files.ok());
  for (const auto& f : *files) EXPECT_NE(f.path, unbound_config_file(*l));
  EXPECT_TRUE(std::any_of(files->begin(), files->end(),
                          [&](const ConfigFile& f) { return f.path == mta_sts_config_file(*l); }));
}

TEST(RelaySettingsTest, RelayHostForms) {
  const std::vector<std::pair<std::string, std::string>> good = {
      {"smtp.example.net:587", "[smtp.example.net]:587"},
      {"[SMTP.Example.NET]:25", "[smtp.example.net]:25"},
      {"127.0.0.1:2525", "[127.0.0.1]:2525"},
      {"[2001:db8::1]:587", "[ipv6:2001:db8::1]:587"},
      {"[ipv6:::1]:465", "[ipv6:::1]:465"},
  };
  for (const auto& [in, out] : good) {
    auto r = parse_relay_host(in);
    ASSERT_TRUE(r.ok()) << in << ": " << r.status().message();
    EXPECT_EQ(*r, out) << in;
  }
  for (const std::string bad :
       {"host", "host:0", "host:99999", "host:", ":25", "[host]", "[host]25", "[host:25", "2001:db8::1:25",
        "bad_name:25", "-x.example:25", "a b:25", "host:25\nrelayhost=x", "hash:/etc/x", "host:+25", "relay:587"}) {
    auto r = parse_relay_host(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kConfig);
    EXPECT_EQ(r.status().message().rfind("VMAIL_RELAY_HOST", 0), 0u) << r.status().message();
  }
}

TEST(RelaySettingsTest, UserAndPasswordFileGoTogetherAndThePasswordIsNeverShown) {
  testing::TempDir dir;
  const std::string file = dir.path() + "/relay.pw";
  auto env = base_env();
  env["VMAIL_RELAY_HOST"] = "smtp.example.net:587";
  auto load = [&env] { return load_launch_settings({}, map_env(env)); };
  auto l = load();
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->relay.host, "[smtp.example.net]:587");
  EXPECT_TRUE(l->relay.user.empty());
  EXPECT_EQ(l->relay_password_map, "/srv/one/etc/postfix/relay_passwords");

  env["VMAIL_RELAY_USER"] = "mailer@example.net";
  EXPECT_NE(load().status().message().find("VMAIL_RELAY_PASSWORD_FILE"), std::string::npos);
  env["VMAIL_RELAY_PASSWORD_FILE"] = file;
  EXPECT_NE(load().status().message().find("no such file"), std::string::npos);

  const std::string secret = "s3cret-Pass:word";
  const std::vector<std::pair<std::string, std::string>> bad_files = {
      {"", "empty"},
      {"\n", "empty"},
      {secret + "\nsecond line\n", "one line"},
      {secret + "\r", "one line"},
      {secret + "\t", "control character"},
      {" " + secret, "space"},
  };
  for (const auto& [content, why] : bad_files) {
    std::ofstream(file, std::ios::trunc) << content;
    auto r = load();
    ASSERT_FALSE(r.ok()) << why;
    EXPECT_EQ(r.status().code(), Code::kConfig);
    EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find(secret), std::string::npos);
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  }
  std::ofstream(file, std::ios::trunc) << secret << "\n";
  l = load();
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(relay_password_line(l->relay, *read_relay_password(file)),
            "[smtp.example.net]:587 mailer@example.net:" + secret + "\n");

  env["VMAIL_RELAY_USER"] = "with:colon";
  EXPECT_NE(load().status().message().find("VMAIL_RELAY_USER"), std::string::npos);
  env.erase("VMAIL_RELAY_USER");
  EXPECT_NE(load().status().message().find("VMAIL_RELAY_USER: not set"), std::string::npos);
  env.erase("VMAIL_RELAY_HOST");
  EXPECT_NE(load().status().message().find("set without VMAIL_RELAY_HOST"), std::string::npos);
}

// The relay's certificate is verified unless VMAIL_RELAY_TLS=encrypt says
// not to: against VMAIL_RELAY_CA_FILE, else the system CAs.
TEST(RelaySettingsTest, CertificateVerifiedByDefault) {
  testing::TempDir dir;
  const std::string ca = dir.path() + "/ca.pem";
  std::ofstream(ca) << "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  auto env = base_env();
  env["VMAIL_RELAY_HOST"] = "smtp.example.net:587";
  auto load = [&env] { return load_launch_settings({}, map_env(env)); };
  auto l = load();
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->relay.tls_level, "secure");
  EXPECT_EQ(l->relay.ca_file, kSystemCaFile);

  env["VMAIL_RELAY_CA_FILE"] = ca;
  l = load();
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->relay.tls_level, "secure");
  EXPECT_EQ(l->relay.ca_file, ca);
  env["VMAIL_RELAY_TLS"] = "secure";
  EXPECT_TRUE(load().ok());

  // The opt-out verifies nothing, so a CA file with it is a contradiction.
  env["VMAIL_RELAY_TLS"] = "encrypt";
  auto both = load();
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.status().code(), Code::kConfig);
  EXPECT_EQ(both.status().message().rfind("VMAIL_RELAY_CA_FILE", 0), 0u) << both.status().message();
  env.erase("VMAIL_RELAY_CA_FILE");
  l = load();
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->relay.tls_level, "encrypt");
  EXPECT_EQ(l->relay.ca_file, "");

  for (const std::string bad : {"may", "none", "SECURE", "verify", "dane"}) {
    env["VMAIL_RELAY_TLS"] = bad;
    auto r = load();
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message().rfind("VMAIL_RELAY_TLS", 0), 0u) << r.status().message();
  }
  env.erase("VMAIL_RELAY_TLS");
  env["VMAIL_RELAY_CA_FILE"] = dir.path() + "/missing.pem";
  EXPECT_NE(load().status().message().find("not a readable PEM certificate file"), std::string::npos);
  env.erase("VMAIL_RELAY_HOST");
  env.erase("VMAIL_RELAY_CA_FILE");
  env["VMAIL_RELAY_TLS"] = "encrypt";
  EXPECT_EQ(load().status().message(), "VMAIL_RELAY_TLS: set without VMAIL_RELAY_HOST");
}

TEST(RelaySettingsTest, MainCfRendersTheRelayButNeverThePassword) {
  testing::TempDir dir;
  const std::string file = dir.path() + "/relay.pw";
  std::ofstream(file) << "never-in-main-cf\n";
  TlsFiles tls{"/c/cert.pem", "/c/privkey.pem", "/c/fullchain.pem", false, "/c/pair.pem"};
  auto main_cf = [&tls](const std::map<std::string, std::string>& env) {
    auto l = load_launch_settings({}, map_env(env));
    EXPECT_TRUE(l.ok()) << l.status().message();
    auto files = render_configs(*l, tls);
    EXPECT_TRUE(files.ok());
    for (const auto& f : *files) {
      if (f.path.ends_with("/main.cf")) return f.content;
    }
    return std::string();
  };
  // Direct: DANE through the launcher's resolver, MTA-STS through its daemon.
  std::string direct = main_cf(base_env());
  EXPECT_NE(direct.find("\nrelayhost = \n"), std::string::npos);
  EXPECT_NE(direct.find("\nsmtp_tls_security_level = dane\n"), std::string::npos);
  EXPECT_NE(direct.find("\nsmtp_dns_support_level = dnssec\n"), std::string::npos);
  EXPECT_NE(direct.find("\nsmtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix\n"), std::string::npos);
  EXPECT_NE(direct.find("\nsmtp_tls_CAfile = " + std::string(kSystemCaFile) + "\n"), std::string::npos);
  EXPECT_NE(direct.find("\nsmtp_sasl_auth_enable = no\n"), std::string::npos);
  EXPECT_NE(direct.find("check_sender_access hash:/srv/one/etc/postfix/hosted_senders"), std::string::npos);
  auto off = base_env();
  off["VMAIL_DANE"] = "off";
  off["VMAIL_MTA_STS"] = "no";
  std::string opportunistic = main_cf(off);
  EXPECT_NE(opportunistic.find("\nsmtp_tls_security_level = may\n"), std::string::npos);
  EXPECT_NE(opportunistic.find("\nsmtp_dns_support_level = enabled\n"), std::string::npos);
  EXPECT_NE(opportunistic.find("\nsmtp_tls_policy_maps = \n"), std::string::npos);

  auto env = base_env();
  env["VMAIL_RELAY_HOST"] = "[smtp.example.net]:587";
  env["VMAIL_RELAY_USER"] = "mailer";
  env["VMAIL_RELAY_PASSWORD_FILE"] = file;
  std::string relayed = main_cf(env);
  EXPECT_NE(relayed.find("\nrelayhost = [smtp.example.net]:587\n"), std::string::npos);
  EXPECT_NE(relayed.find("\nsmtp_tls_security_level = secure\n"), std::string::npos);
  // The relay's TLS rules, not DANE or MTA-STS (the next hop is the relay).
  EXPECT_NE(relayed.find("\nsmtp_dns_support_level = enabled\n"), std::string::npos);
  EXPECT_NE(relayed.find("\nsmtp_tls_policy_maps = \n"), std::string::npos);
  EXPECT_NE(relayed.find("\nsmtp_tls_CAfile = " + std::string(kSystemCaFile) + "\n"), std::string::npos);
  EXPECT_NE(relayed.find("\nsmtp_sasl_auth_enable = yes\n"), std::string::npos);
  EXPECT_NE(relayed.find("\nsmtp_sasl_password_maps = hash:/srv/one/etc/postfix/relay_passwords\n"), std::string::npos);
  EXPECT_EQ(relayed.find("never-in-main-cf"), std::string::npos);
  EXPECT_EQ(relayed.find("mailer"), std::string::npos);
}

TEST(LaunchSettingsTest, DnsResolverInLibunboundForm) {
  const std::vector<std::pair<std::string, std::string>> good = {{"127.0.0.1", "127.0.0.1@53"},
                                                                 {"127.0.0.1:5353", "127.0.0.1@5353"},
                                                                 {"[::1]:5353", "::1@5353"},
                                                                 {"[fd00::53]", "fd00::53@53"}};
  for (const auto& [value, expected] : good) {
    auto r = parse_dns_resolver(value);
    ASSERT_TRUE(r.ok()) << value << ": " << r.status().message();
    EXPECT_EQ(*r, expected);
  }
}

// OpenDKIM's files land in VMAIL_OPENDKIM_DIR; its socket and the resolver
// file follow the settings, and the milter is wired into Postfix.
TEST(LaunchConfigTest, OpenDkimConfigAndMilter) {
  auto env = base_env();
  env["VMAIL_DNS_RESOLVER"] = "127.0.0.1:5353";
  env["VMAIL_MYNETWORKS"] = "10.0.0.0/8 [FD00::]/8";
  auto l = load_launch_settings({}, map_env(env));
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->base.opendkim_dir, "/srv/one/etc/opendkim");
  EXPECT_EQ(opendkim_socket(l->base), "/srv/one/run/opendkim/opendkim.sock");
  auto files = render_configs(*l, TlsFiles{"/c/cert.pem", "/c/privkey.pem", "/c/fullchain.pem", false, "/c/pair.pem"});
  ASSERT_TRUE(files.ok()) << files.status().message();
  std::map<std::string, std::string> by_path;
  for (const auto& f : *files) by_path[f.path] = f.content;
  const std::string conf = by_path["/srv/one/etc/opendkim/opendkim.conf"];
  EXPECT_NE(conf.find("Socket                  local:/srv/one/run/opendkim/opendkim.sock"), std::string::npos);
  EXPECT_NE(conf.find("KeyTable                file:/srv/one/etc/opendkim/KeyTable"), std::string::npos);
  EXPECT_NE(conf.find("SigningTable            refile:/srv/one/etc/opendkim/SigningTable"), std::string::npos);
  EXPECT_NE(conf.find("AuthservID              mail.example.test"), std::string::npos);
  EXPECT_NE(conf.find("RequireSafeKeys         yes"), std::string::npos);
  EXPECT_NE(conf.find("ResolverConfiguration   /srv/one/etc/opendkim/unbound.conf"), std::string::npos);
  // No host signs without a login, VMAIL_MYNETWORKS included (issue 22): the
  // file is there (else OpenDKIM would sign for 127.0.0.1) and lists nothing.
  ASSERT_TRUE(by_path.count("/srv/one/etc/opendkim/InternalHosts"));
  std::istringstream hosts(by_path["/srv/one/etc/opendkim/InternalHosts"]);
  for (std::string line; std::getline(hosts, line);) EXPECT_TRUE(line.empty() || line[0] == '#') << line;
  EXPECT_NE(by_path["/srv/one/etc/opendkim/unbound.conf"].find("forward-addr: 127.0.0.1@5353"), std::string::npos);
  EXPECT_NE(by_path["/srv/one/etc/postfix/main.cf"].find("smtpd_milters = unix:/srv/one/run/opendkim/opendkim.sock"),
            std::string::npos);
  // Submission and smtps: vmail-milter (failing closed) before OpenDKIM.
  EXPECT_EQ(vmail_milter_socket(l->base), "/srv/one/run/vmail-milter/milter.sock");
  EXPECT_NE(by_path["/srv/one/etc/postfix/main.cf"].find(
                "vmail_submission_milters = { unix:/srv/one/run/vmail-milter/milter.sock, default_action=tempfail }, "
                "unix:/srv/one/run/opendkim/opendkim.sock\n"),
            std::string::npos);
  const std::string master = by_path["/srv/one/etc/postfix/master.cf"];
  size_t milters = 0;
  for (size_t at = master.find("-o smtpd_milters=$vmail_submission_milters\n"); at != std::string::npos;
       at = master.find("-o smtpd_milters=$vmail_submission_milters\n", at + 1)) {
    ++milters;
  }
  EXPECT_EQ(milters, 2u);

  // Without VMAIL_DNS_RESOLVER: no resolver file, no ResolverConfiguration.
  auto plain = load_launch_settings({}, map_env(base_env()));
  ASSERT_TRUE(plain.ok());
  auto plain_files = render_configs(*plain, TlsFiles{});
  ASSERT_TRUE(plain_files.ok());
  for (const auto& f : *plain_files) {
    EXPECT_NE(f.path, opendkim_resolver_file(*plain));
    if (f.path.ends_with("opendkim.conf")) {
      EXPECT_EQ(f.content.find("ResolverConfiguration"), std::string::npos);
    }
  }
}

TEST(LaunchConfigTest, EveryTemplateVariableHasAValue) {
  auto l = load_launch_settings({}, map_env(base_env()));
  ASSERT_TRUE(l.ok());
  TlsFiles tls{"/c/cert.pem", "/c/privkey.pem", "/c/fullchain.pem", false, "/c/pair.pem"};
  auto values = template_values(*l, tls);
  ASSERT_GE(embedded_templates().size(), 4u);
  std::regex var(R"(\{\{\s*([a-z0-9_]+)\s*\}\})");
  for (const auto& t : embedded_templates()) {
    for (std::sregex_iterator it(t.text.begin(), t.text.end(), var), end; it != end; ++it) {
      EXPECT_TRUE(values.count((*it)[1].str())) << t.name << " uses unknown {{" << (*it)[1].str() << "}}";
    }
  }
  auto files = render_configs(*l, tls);
  ASSERT_TRUE(files.ok()) << files.status().message();
  std::set<std::string> paths;
  for (const auto& f : *files) {
    paths.insert(f.path);
    EXPECT_EQ(f.content.find("{{"), std::string::npos) << f.path;
  }
  EXPECT_TRUE(paths.count("/srv/one/etc/postfix/main.cf"));
  EXPECT_TRUE(paths.count("/srv/one/etc/postfix/master.cf"));
  EXPECT_TRUE(paths.count("/srv/one/etc/dovecot/dovecot.conf"));
  EXPECT_TRUE(paths.count("/srv/one/etc/dovecot/conf.d/10-ssl.conf"));
  for (const auto& f : *files) {
    if (f.path.ends_with("main.cf")) {
      EXPECT_NE(f.content.find("virtual_mailbox_maps = hash:/srv/one/etc/postfix/vmailbox"), std::string::npos);
      EXPECT_NE(f.content.find("queue_directory = /srv/one/data/state/queue"), std::string::npos);
      EXPECT_NE(f.content.find("smtpd_tls_auth_only = yes"), std::string::npos);
    }
  }
}

// SPEC "Mail policy": TLS 1.2+, ECDHE and AEAD only, on every port of both
// daemons; the quota warning script never runs as root.
// SPEC "Mail policy": the spam layer. On by default: rspamd's milter on
// port 25 only, postgrey after permit_mynetworks and permit_sasl_authenticated,
// the Junk rule and IMAPSieve in Dovecot, the learning script executable.
// Off: none of it is rendered, and its services neither run nor take ports.
TEST(LaunchSpamTest, OnRendersTheLayerOffRendersNone) {
  const TlsFiles tls{"/c/cert.pem", "/c/privkey.pem", "/c/fullchain.pem", false, "/c/pair.pem"};
  auto on = load_launch_settings({}, map_env(base_env()));
  ASSERT_TRUE(on.ok()) << on.status().message();
  EXPECT_TRUE(on->endpoints.spam);
  EXPECT_TRUE(on->endpoints.greylist);
  EXPECT_EQ(on->greylist_delay, 300);
  EXPECT_EQ(on->endpoints.port("rspamd-milter"), 11332);
  auto files = render_configs(*on, tls);
  ASSERT_TRUE(files.ok()) << files.status().message();
  std::map<std::string, ConfigFile> by_path;
  for (const auto& f : *files) by_path[f.path] = f;
  const std::string& main_cf = by_path.at("/srv/one/etc/postfix/main.cf").content;
  EXPECT_NE(main_cf.find("smtpd_milters = inet:127.0.0.1:11332, unix:"), std::string::npos);
  EXPECT_NE(main_cf.find("permit_mynetworks, permit_sasl_authenticated, check_policy_service { "
                         "inet:127.0.0.1:10023, default_action=DUNNO }, permit"),
            std::string::npos);
  const std::string& dovecot = by_path.at("/srv/one/etc/dovecot/dovecot.conf").content;
  EXPECT_NE(dovecot.find("sieve_before = /srv/one/etc/rspamd/sieve/spam.sieve"), std::string::npos);
  EXPECT_NE(dovecot.find("imap_quota imap_sieve"), std::string::npos);
  EXPECT_NE(by_path.at("/srv/one/etc/redis/redis.conf").content.find("bind 127.0.0.1\nport 6379\n"), std::string::npos);
  EXPECT_NE(by_path.at("/srv/one/etc/rspamd/override.d/worker-proxy.inc").content.find("127.0.0.1:11332"),
            std::string::npos);
  EXPECT_EQ(by_path.at("/srv/one/etc/rspamd/bin/rspamc-learn.sh").mode, 0755u);
  EXPECT_EQ(by_path.at("/srv/one/etc/rspamd/local.d/redis.conf").mode, 0644u);

  auto env = base_env();
  env["VMAIL_GREYLIST"] = "off";
  auto no_grey = load_launch_settings({}, map_env(env));
  ASSERT_TRUE(no_grey.ok());
  auto grey_files = render_configs(*no_grey, tls);
  ASSERT_TRUE(grey_files.ok());
  for (const auto& f : *grey_files) {
    if (f.path.ends_with("main.cf")) {
      EXPECT_EQ(f.content.find("10023"), std::string::npos);
    }
  }

  env["VMAIL_SPAM"] = "off";
  env["VMAIL_REDIS_PORT"] = "25";  // a service that does not run takes no port
  auto off = load_launch_settings({}, map_env(env));
  ASSERT_TRUE(off.ok()) << off.status().message();
  for (size_t i = 0; i < kServices.size(); ++i) {
    bool spam_service = std::any_of(kServices[i].switches.begin(), kServices[i].switches.end(),
                                    [](const char* s) { return std::string(s) == "VMAIL_SPAM"; });
    EXPECT_EQ(off->endpoints.on(kServices[i].name), !spam_service) << kServices[i].name;
  }
  auto off_files = render_configs(*off, tls);
  ASSERT_TRUE(off_files.ok());
  for (const auto& f : *off_files) {
    EXPECT_EQ(f.path.find("rspamd"), std::string::npos) << f.path;
    EXPECT_EQ(f.path.find("redis"), std::string::npos) << f.path;
    if (f.path.ends_with("main.cf")) {
      EXPECT_NE(f.content.find("smtpd_milters = unix:"), std::string::npos);
      EXPECT_EQ(f.content.find("11332"), std::string::npos);
    }
    if (f.path.ends_with("dovecot.conf")) {
      EXPECT_NE(f.content.find("sieve_before = ~/.vmail-vacation.sieve"), std::string::npos);
      EXPECT_EQ(f.content.find("imapsieve"), std::string::npos);
    }
  }
  // Recorded for `vmail health`, and read back.
  auto recorded = recordable_endpoints(off->endpoints);
  EXPECT_EQ(recorded.at("VMAIL_SPAM"), "off");
  auto back = load_endpoints({}, map_env({}), recorded);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_FALSE(back->spam);
}

TEST(LaunchSpamTest, RejectsBadSwitchesAndDelays) {
  for (const auto& [name, value, message] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"VMAIL_SPAM", "maybe", "VMAIL_SPAM \"maybe\": must be on or off"},
           {"VMAIL_GREYLIST", "2", "VMAIL_GREYLIST \"2\": must be on or off"},
           {"VMAIL_GREYLIST_DELAY", "0", "VMAIL_GREYLIST_DELAY \"0\": must be 1-86400 s"},
           {"VMAIL_GREYLIST_DELAY", "soon", "VMAIL_GREYLIST_DELAY \"soon\": not a whole number of seconds"},
       }) {
    auto env = base_env();
    env[name] = value;
    auto l = load_launch_settings({}, map_env(env));
    ASSERT_FALSE(l.ok()) << name << "=" << value;
    EXPECT_EQ(l.status().code(), Code::kConfig);
    EXPECT_EQ(l.status().message(), message);
  }
}

TEST(LaunchConfigTest, TlsOnlyEcdheAeadAndNoRootScript) {
  auto l = load_launch_settings({}, map_env(base_env()));
  ASSERT_TRUE(l.ok());
  auto files = render_configs(*l, TlsFiles{"/c/cert.pem", "/c/privkey.pem", "/c/fullchain.pem", false, "/c/pair.pem"});
  ASSERT_TRUE(files.ok());
  std::map<std::string, std::string> by_path;
  for (const auto& f : *files) by_path[f.path] = f.content;
  const std::string list = kTlsCipherList;
  std::istringstream ciphers(list);
  for (std::string c; std::getline(ciphers, c, ':');) {
    EXPECT_EQ(c.rfind("ECDHE-", 0), 0u) << c;
    EXPECT_TRUE(c.find("-GCM-") != std::string::npos || c.ends_with("-CHACHA20-POLY1305")) << c;
  }
  const std::string main_cf = by_path["/srv/one/etc/postfix/main.cf"];
  for (const std::string& line : std::vector<std::string>{
           "smtpd_tls_protocols = >=TLSv1.2", "smtpd_tls_mandatory_protocols = >=TLSv1.2", "smtpd_tls_ciphers = high",
           "smtpd_tls_mandatory_ciphers = high", "tls_high_cipherlist = " + list, "tls_preempt_cipherlist = yes"}) {
    EXPECT_NE(main_cf.find("\n" + line + "\n"), std::string::npos) << line;
  }
  const std::string master_cf = by_path["/srv/one/etc/postfix/master.cf"];
  EXPECT_EQ(master_cf.find("tls_ciphers"), std::string::npos);
  EXPECT_EQ(master_cf.find("tls_protocols"), std::string::npos);
  const std::string ssl = by_path["/srv/one/etc/dovecot/conf.d/10-ssl.conf"];
  for (const std::string& line : std::vector<std::string>{"ssl_min_protocol = TLSv1.2", "ssl_cipher_list = " + list,
                                                          "ssl_prefer_server_ciphers = yes"}) {
    EXPECT_NE(ssl.find("\n" + line + "\n"), std::string::npos) << line;
  }
  const std::string dovecot = by_path["/srv/one/etc/dovecot/dovecot.conf"];
  auto service = dovecot.find("service quota-warning {");
  ASSERT_NE(service, std::string::npos);
  const std::string block = dovecot.substr(service, dovecot.find("\n}\n", service) - service);
  EXPECT_EQ(block.find("user = root"), std::string::npos) << block;
  EXPECT_NE(block.find("\n  user = " + template_values(*l, TlsFiles{}).at("vmail_user") + "\n"), std::string::npos)
      << block;
}

TEST(LaunchTlsTest, SelfSignedMatchesAndForeignKeyDoesNot) {
  testing::TempDir a, b;
  ASSERT_TRUE(make_self_signed(a.path(), {"mail.example.test", "example.test"}).ok());
  ASSERT_TRUE(make_self_signed(b.path(), {"mail.example.test"}).ok());
  EXPECT_TRUE(check_key_matches(a.path() + "/cert.pem", a.path() + "/privkey.pem").ok());
  Status mismatch = check_key_matches(a.path() + "/cert.pem", b.path() + "/privkey.pem");
  EXPECT_EQ(mismatch.code(), Code::kConfig);
  EXPECT_NE(mismatch.message().find("does not match"), std::string::npos);
  EXPECT_EQ(check_key_matches(a.path() + "/missing.pem", a.path() + "/privkey.pem").code(), Code::kConfig);
  FileOptions o;
  ASSERT_TRUE(write_file_atomic(a.path() + "/junk.pem", "not pem\n", o).ok());
  Status junk = check_key_matches(a.path() + "/junk.pem", a.path() + "/privkey.pem");
  EXPECT_NE(junk.message().find("not a PEM certificate"), std::string::npos);
}

}  // namespace
}  // namespace vmail
