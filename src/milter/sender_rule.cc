#include "milter/sender_rule.h"

#include <algorithm>

#include "core/validate.h"
#include "milter/from_header.h"

namespace vmail {
namespace {

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return c < 0x80 ? static_cast<char>(std::tolower(c)) : static_cast<char>(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

SenderLogins SenderLogins::parse(std::string_view text, const std::function<void(const std::string&)>& skipped) {
  SenderLogins out;
  size_t line_no = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = trim(text.substr(start, end - start));
    start = end + 1;
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    auto report = [&](const std::string& reason) {
      if (skipped) skipped("line " + std::to_string(line_no) + ": " + reason);
    };
    size_t space = line.find_first_of(" \t");
    if (space == std::string_view::npos) {
      report("a key without logins");
      continue;
    }
    // Keys and logins are the exporter's, from checked rows; they are read
    // back as untrusted all the same (the validators of every stored address).
    auto key = parse_alias_source(line.substr(0, space), "key");
    if (!key.ok()) {
      report(key.status().message());
      continue;
    }
    std::vector<std::string> logins;
    std::string_view rest = trim(line.substr(space + 1));
    bool good = true;
    for (bool more = true; more;) {
      size_t comma = rest.find(',');
      auto login = parse_address(trim(rest.substr(0, comma)), "login");
      if (!login.ok()) {
        report(login.status().message());
        good = false;
        break;
      }
      logins.push_back(login->str());
      more = comma != std::string_view::npos;
      if (more) rest = rest.substr(comma + 1);
    }
    if (!good) continue;
    // Postfix keeps the first of two equal keys.
    out.owners_.emplace(key->local.empty() ? "@" + key->domain : key->str(), std::move(logins));
  }
  return out;
}

const std::vector<std::string>* SenderLogins::owners(const std::string& address) const {
  size_t at = address.rfind('@');
  if (at == std::string::npos) return nullptr;
  if (auto it = owners_.find(address); it != owners_.end()) return &it->second;
  // recipient_delimiter = + (main.cf): user+tag@domain is user@domain. A
  // local part that starts with '+' has no user to strip down to.
  size_t plus = address.find('+');
  if (plus != std::string::npos && plus > 0 && plus < at) {
    if (auto it = owners_.find(address.substr(0, plus) + address.substr(at)); it != owners_.end()) return &it->second;
  }
  if (auto it = owners_.find(address.substr(at)); it != owners_.end()) return &it->second;
  return nullptr;
}

FromVerdict check_from(const SenderLogins& table, std::string_view login, const std::vector<std::string>& values) {
  if (values.empty()) return {false, "", "no From: header"};
  const std::string who = ascii_lower(login);
  for (const std::string& value : values) {
    auto addresses = parse_address_list(value);
    if (!addresses.ok()) return {false, "", addresses.status().message()};
    for (const HeaderAddress& a : *addresses) {
      auto refuse = [&](const std::string& why) {
        return FromVerdict{false, a.str(), "From: " + quote(a.str()) + " " + why};
      };
      // The domain as every stored domain is: lowercase, A-label. One that
      // cannot be stored (a literal, a single label) is no one's.
      auto domain = normalize_domain(a.domain);
      if (!domain.ok()) return refuse("is not an address " + who + " may send as (" + domain.status().message() + ")");
      const std::vector<std::string>* owners = table.owners(ascii_lower(a.local) + "@" + *domain);
      if (owners == nullptr || std::find(owners->begin(), owners->end(), who) == owners->end()) {
        return refuse("is not an address " + who + " may send as");
      }
    }
  }
  return {true, "", ""};
}

}  // namespace vmail
