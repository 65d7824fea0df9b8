#include "policy/auth_policy.h"

#include <nlohmann/json.hpp>

namespace vmail {
namespace {

using json = nlohmann::json;

HttpReply reply(int status, const std::string& msg = "") {
  json j{{"status", status}};
  if (!msg.empty()) j["msg"] = msg;
  return {200, j.dump()};
}

HttpReply bad_request(const std::string& why) { return {400, json{{"error", why}}.dump()}; }

bool ignored(const IpAddress& address, const AuthPolicyConfig& config) {
  for (const auto& n : config.ignore) {
    if (n.contains(address)) return true;
  }
  return false;
}

// A JSON boolean field; Dovecot writes true/false. Anything else: nullopt.
std::optional<bool> boolean_field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_boolean()) return std::nullopt;
  return it->get<bool>();
}

}  // namespace

HttpReply handle_auth_policy(const std::string& command, const std::string& body, PolicyState& state,
                             const AuthPolicyConfig& config, int64_t now, std::vector<std::string>* log) {
  if (command != "allow" && command != "report") return bad_request("command must be allow or report");
  if (body.size() > kMaxAuthPolicyBody) return bad_request("request too large");
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad_request("body is not a JSON object");
  auto remote = j.find("remote");
  if (remote == j.end() || !remote->is_string()) return bad_request("no remote address");
  // No client address (e.g. `doveadm auth test`), or one from an ignored
  // network: nothing to count or refuse.
  auto address = parse_ip(remote->get<std::string>());
  if (!address || ignored(*address, config)) return reply(0);
  const std::string key = address->text();

  if (command == "allow") {
    auto ban = state.active_ban(key, now);
    if (!ban.ok()) {
      log->push_back("ban lookup for " + key + ": " + ban.status().message());
      return {500, json{{"error", "state unavailable"}}.dump()};
    }
    return *ban ? reply(-1, kBannedMessage) : reply(0);
  }

  auto success = boolean_field(j, "success");
  if (!success) return bad_request("report without success");
  // A login this server refused is not one more failure: the client is
  // banned already, and counting it would only lengthen the ban.
  if (*success || boolean_field(j, "policy_reject").value_or(false)) return reply(0);
  auto banned = state.record_failure(key, now, config.rules);
  if (!banned.ok()) {
    log->push_back("failed login from " + key + " not counted: " + banned.status().message());
    return {500, json{{"error", "state unavailable"}}.dump()};
  }
  if (*banned) {
    std::string login;
    if (auto l = j.find("login"); l != j.end() && l->is_string()) login = l->get<std::string>();
    std::string protocol;
    if (auto p = j.find("protocol"); p != j.end() && p->is_string()) protocol = p->get<std::string>();
    log->push_back("banned " + key + " for " + std::to_string(config.rules.ban_time) + " s after " +
                   std::to_string(config.rules.failures) + " failed logins within " +
                   std::to_string(config.rules.window) + " s (last: " + quote(login.substr(0, 128)) + " over " +
                   quote(protocol.substr(0, 32)) + ")");
  }
  return reply(0);
}

}  // namespace vmail
