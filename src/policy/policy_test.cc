// vmail-policyd's request handling without sockets: Dovecot's auth policy
// JSON (auth_policy.h) and Postfix's policy delegation (send_policy.h), over
// a real PolicyState in a temp folder and a test clock.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "policy/auth_policy.h"
#include "policy/send_policy.h"
#include "tests/test_util.h"

namespace vmail {
namespace {

using json = nlohmann::json;
using testing::TempDir;

AuthPolicyConfig config(int failures) {
  AuthPolicyConfig c;
  c.rules = {failures, 600, 3600};
  c.ignore = *parse_network_list("127.0.0.1/32,::1/128", "VMAIL_BAN_IGNORE");
  return c;
}

std::string report(const std::string& remote, bool success, bool policy_reject = false) {
  return json{{"login", "a@example.com"},
              {"remote", remote},
              {"protocol", "imap"},
              {"success", success},
              {"policy_reject", policy_reject}}
      .dump();
}

std::string allow(const std::string& remote) {
  return json{{"login", "a@example.com"}, {"remote", remote}, {"protocol", "imap"}}.dump();
}

int status_of(const HttpReply& r) { return json::parse(r.body).at("status").get<int>(); }

TEST(AuthPolicyTest, FailuresBanTheAddressOnly) {
  TempDir dir;
  auto state = PolicyState::open(dir.path());
  ASSERT_TRUE(state.ok());
  auto c = config(3);
  std::vector<std::string> log;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(status_of(handle_auth_policy("allow", allow("127.0.0.2"), **state, c, 100, &log)), 0);
    EXPECT_EQ(handle_auth_policy("report", report("127.0.0.2", false), **state, c, 100, &log).code, 200);
  }
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("banned 127.0.0.2"), std::string::npos) << log[0];
  HttpReply refused = handle_auth_policy("allow", allow("127.0.0.2"), **state, c, 101, &log);
  EXPECT_EQ(status_of(refused), -1);
  EXPECT_EQ(json::parse(refused.body).at("msg"), kBannedMessage);
  EXPECT_EQ(status_of(handle_auth_policy("allow", allow("127.0.0.3"), **state, c, 101, &log)), 0);
  // The same client as an IPv4-mapped address is the same client.
  EXPECT_EQ(status_of(handle_auth_policy("allow", allow("::ffff:127.0.0.2"), **state, c, 101, &log)), -1);
}

TEST(AuthPolicyTest, SuccessesRefusalsAndIgnoredNetworksAreNotCounted) {
  TempDir dir;
  auto state = PolicyState::open(dir.path());
  ASSERT_TRUE(state.ok());
  auto c = config(2);
  std::vector<std::string> log;
  for (int i = 0; i < 5; ++i) {
    handle_auth_policy("report", report("192.0.2.1", true), **state, c, 100, &log);
    handle_auth_policy("report", report("192.0.2.1", false, true), **state, c, 100, &log);
    handle_auth_policy("report", report("127.0.0.1", false), **state, c, 100, &log);
    handle_auth_policy("report", report("::1", false), **state, c, 100, &log);
    handle_auth_policy("report", report("", false), **state, c, 100, &log);
  }
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(status_of(handle_auth_policy("allow", allow("192.0.2.1"), **state, c, 100, &log)), 0);
  EXPECT_EQ(status_of(handle_auth_policy("allow", allow("127.0.0.1"), **state, c, 100, &log)), 0);
}

TEST(AuthPolicyTest, HostileRequestsGet400AndChangeNothing) {
  TempDir dir;
  auto state = PolicyState::open(dir.path());
  ASSERT_TRUE(state.ok());
  auto c = config(1);
  std::vector<std::string> log;
  const std::pair<std::string, std::string> cases[] = {
      {"", allow("192.0.2.9")},
      {"ban", allow("192.0.2.9")},
      {"report", ""},
      {"report", "not json"},
      {"report", "[1,2]"},
      {"report", "\"192.0.2.9\""},
      {"report", "{\"remote\":\"192.0.2.9\"}"},                     // no success
      {"report", "{\"remote\":\"192.0.2.9\",\"success\":\"no\"}"},  // not a boolean
      {"report", "{\"remote\":5,\"success\":false}"},
      {"report", "{\"success\":false}"},
      {"report", "{\"remote\":\"192.0.2.9\",\"success\":false"},  // cut short
      {"report",
       "{\"remote\":\"192.0.2.9\",\"success\":false,\"pad\":\"" + std::string(kMaxAuthPolicyBody, 'x') + "\"}"},
  };
  for (const auto& [command, body] : cases) {
    EXPECT_EQ(handle_auth_policy(command, body, **state, c, 100, &log).code, 400)
        << command << " " << body.substr(0, 80);
  }
  EXPECT_TRUE((*state)->list_bans(100)->empty());
  // An unparsable address is no client to count: accepted, nothing kept.
  EXPECT_EQ(handle_auth_policy("report", report("not-an-ip", false), **state, c, 100, &log).code, 200);
  EXPECT_TRUE((*state)->list_bans(100)->empty());
}

TEST(SendPolicyTest, RequestsAreTakenOneAtATime) {
  std::string buffer =
      "request=smtpd_access_policy\nprotocol_state=RCPT\nsasl_username=a@example.com\n\n"
      "request=smtpd_access_policy\r\n\r\nrequest=";
  auto first = take_policy_request(buffer);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(*first);
  EXPECT_EQ((**first).at("sasl_username"), "a@example.com");
  auto second = take_policy_request(buffer);
  ASSERT_TRUE(second.ok() && *second);
  EXPECT_EQ((**second).size(), 1u);
  auto partial = take_policy_request(buffer);  // no blank line yet
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(*partial);
  EXPECT_EQ(buffer, "request=");
  std::string value_with_equals = "ccert_subject=CN=x=y\n\n";
  auto v = take_policy_request(value_with_equals);
  ASSERT_TRUE(v.ok() && *v);
  EXPECT_EQ((**v).at("ccert_subject"), "CN=x=y");
}

TEST(SendPolicyTest, HostileRequestsAreRefused) {
  std::string many;
  for (size_t i = 0; i <= kMaxPolicyAttributes; ++i) many += "a" + std::to_string(i) + "=x\n";
  const std::string cases[] = {
      "junk\n\n",
      "=value\n\n",
      "Name=value\n\n",
      "na me=value\n\n",
      "a=1\na=2\n\n",
      std::string("a=b\0c\n\n", 8),
      "a=b\x01\n\n",
      "a=" + std::string(kMaxPolicyLine, 'x') + "\n\n",
      "a=" + std::string(kMaxPolicyLine + 1, 'x'),  // too long with no newline yet
      many + "\n",
  };
  for (const auto& c : cases) {
    std::string buffer = c;
    auto r = take_policy_request(buffer);
    EXPECT_FALSE(r.ok()) << c.substr(0, 40);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kBadInput);
    }
  }
  // Many short lines that never end the request: refused once too large.
  std::string endless;
  for (int i = 0; endless.size() <= kMaxPolicyRequest; ++i) endless += "x" + std::to_string(i) + "=1\n";
  EXPECT_FALSE(take_policy_request(endless).ok());
}

PolicyRequest rcpt(const std::string& login, const std::string& recipient = "x@example.net") {
  PolicyRequest r{{"request", "smtpd_access_policy"}, {"protocol_state", "RCPT"}, {"recipient", recipient}};
  if (!login.empty()) r["sasl_username"] = login;
  return r;
}

TEST(SendPolicyTest, LimitsCountLoginsOnly) {
  TempDir dir;
  auto state = PolicyState::open(dir.path());
  ASSERT_TRUE(state.ok());
  LimitLookup limits = [](const std::string& login) -> Result<std::optional<int64_t>> {
    if (login == "five@example.com") return std::optional<int64_t>(5);
    if (login == "free@example.com") return std::optional<int64_t>(0);
    if (login == "broken@example.com") return Status(Code::kBusy, "database busy");
    return std::optional<int64_t>();
  };
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(decide_send(rcpt("five@example.com"), **state, limits, 500, 100).action, "DUNNO");
  SendDecision over = decide_send(rcpt("five@example.com", "sixth@example.net"), **state, limits, 500, 100);
  EXPECT_EQ(over.action.rfind("451 4.7.1 ", 0), 0u) << over.action;
  EXPECT_NE(over.log.find("five@example.com"), std::string::npos);
  EXPECT_NE(over.log.find("sixth@example.net"), std::string::npos);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(decide_send(rcpt("other@example.com"), **state, limits, 500, 100).action, "DUNNO");
    EXPECT_EQ(decide_send(rcpt("free@example.com"), **state, limits, 1, 100).action, "DUNNO");
    EXPECT_EQ(decide_send(rcpt(""), **state, limits, 1, 100).action, "DUNNO");  // no login: never counted
  }
  // Fails open, with a log line, when the limit cannot be read.
  SendDecision broken = decide_send(rcpt("broken@example.com"), **state, limits, 1, 100);
  EXPECT_EQ(broken.action, "DUNNO");
  EXPECT_FALSE(broken.log.empty());
  // Other stages and requests are not counted.
  PolicyRequest data = rcpt("five@example.com");
  data["protocol_state"] = "DATA";
  EXPECT_EQ(decide_send(data, **state, limits, 500, 100).action, "DUNNO");
  EXPECT_EQ(policy_reply("DUNNO"), "action=DUNNO\n\n");
}

}  // namespace
}  // namespace vmail
