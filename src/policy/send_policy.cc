#include "policy/send_policy.h"

namespace vmail {
namespace {

bool name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }

Status parse_line(const std::string& line, PolicyRequest& request) {
  size_t eq = line.find('=');
  if (eq == std::string::npos) return Status(Code::kBadInput, "policy request: a line without '='");
  std::string name = line.substr(0, eq);
  if (name.empty() || name.size() > 64) return Status(Code::kBadInput, "policy request: bad attribute name");
  for (char c : name) {
    if (!name_char(c)) return Status(Code::kBadInput, "policy request: bad attribute name " + quote(name));
  }
  for (char c : line) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return Status(Code::kBadInput, "policy request: control character in " + quote(name));
  }
  if (!request.emplace(name, line.substr(eq + 1)).second) {
    return Status(Code::kBadInput, "policy request: " + quote(name) + " given twice");
  }
  if (request.size() > kMaxPolicyAttributes) return Status(Code::kBadInput, "policy request: too many attributes");
  return Status::Ok();
}

}  // namespace

Result<std::optional<PolicyRequest>> take_policy_request(std::string& buffer) {
  PolicyRequest request;
  size_t at = 0;
  while (true) {
    size_t nl = buffer.find('\n', at);
    if (nl == std::string::npos) {
      if (buffer.size() - at > kMaxPolicyLine) return Status(Code::kBadInput, "policy request: line too long");
      if (buffer.size() > kMaxPolicyRequest) return Status(Code::kBadInput, "policy request: too large");
      return std::optional<PolicyRequest>();
    }
    if (nl - at > kMaxPolicyLine) return Status(Code::kBadInput, "policy request: line too long");
    if (nl + 1 > kMaxPolicyRequest) return Status(Code::kBadInput, "policy request: too large");
    std::string line = buffer.substr(at, nl - at);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    at = nl + 1;
    if (line.empty()) {
      buffer.erase(0, at);
      return std::optional<PolicyRequest>(std::move(request));
    }
    if (Status s = parse_line(line, request); !s.ok()) return s;
  }
}

std::string policy_reply(const std::string& action) { return "action=" + action + "\n\n"; }

SendDecision decide_send(const PolicyRequest& request, PolicyState& state, const LimitLookup& limit_of,
                         int64_t default_limit, int64_t now) {
  auto get = [&](const char* name) {
    auto it = request.find(name);
    return it == request.end() ? std::string() : it->second;
  };
  const std::string login = get("sasl_username");
  if (get("request") != "smtpd_access_policy" || get("protocol_state") != "RCPT" || login.empty()) {
    return {"DUNNO", ""};
  }
  int64_t limit = default_limit;
  auto own = limit_of(login);
  if (!own.ok())
    return {"DUNNO", "send limit of " + quote(login) + " not read (let through): " + own.status().message()};
  if (*own) limit = **own;
  if (limit == 0) return {"DUNNO", ""};  // `vmail user limit --per-hour none`
  auto taken = state.take_recipient(login, now, limit);
  if (!taken.ok()) return {"DUNNO", "recipient of " + quote(login) + " not counted: " + taken.status().message()};
  if (*taken) return {"DUNNO", ""};
  return {"451 4.7.1 Sending limit of " + std::to_string(limit) + " recipients per hour reached; try again later",
          "send limit: " + quote(login) + " is over " + std::to_string(limit) + " recipients per hour; RCPT TO " +
              quote(get("recipient").substr(0, 256)) + " from " + quote(get("client_address").substr(0, 64)) +
              " refused (451 4.7.1)"};
}

}  // namespace vmail
