#include "core/row_policy.h"

namespace vmail {
namespace {

constexpr size_t kMaxLocal = 64;
constexpr size_t kMaxDomain = 253;

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// No control character and none of `separators`.
bool plain_field(std::string_view s, std::string_view separators) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || separators.find(static_cast<char>(c)) != std::string_view::npos) return false;
  }
  return true;
}

}  // namespace

bool row_safe_local(std::string_view s) {
  if (s.empty() || s.size() > kMaxLocal || s.front() == '.' || s.back() == '.') return false;
  if (s.find("..") != std::string_view::npos) return false;
  for (char c : s) {
    if (!lower_alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

bool row_safe_domain(std::string_view s) {
  if (s.size() < 3 || s.size() > kMaxDomain) return false;
  size_t labels = 0;
  size_t start = 0;
  while (true) {
    size_t end = s.find('.', start);
    std::string_view label = s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!lower_alnum(c) && c != '-') return false;
    }
    ++labels;
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return labels >= 2;
}

bool row_safe_address(std::string_view address) {
  size_t at = address.find('@');
  if (at == std::string_view::npos) return false;
  return row_safe_local(address.substr(0, at)) && row_safe_domain(address.substr(at + 1));
}

bool row_safe_alias_source(std::string_view source) {
  if (!source.empty() && source.front() == '@') return row_safe_domain(source.substr(1));
  return row_safe_address(source);
}

bool row_safe_user(std::string_view address, std::string_view local, std::string_view domain) {
  return address.size() == local.size() + 1 + domain.size() && address.substr(0, local.size()) == local &&
         address[local.size()] == '@' && address.substr(local.size() + 1) == domain && row_safe_local(local) &&
         row_safe_domain(domain);
}

bool row_safe_display_name(std::string_view name) { return name.size() <= 1024 && plain_field(name, ":"); }

bool row_safe_mail_dir(std::string_view s) {
  if (s.empty() || s.front() != '/' || !plain_field(s, ":")) return false;
  size_t start = 1;
  while (start <= s.size()) {
    size_t end = s.find('/', start);
    std::string_view part = s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (part == "." || part == "..") return false;
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return true;
}

}  // namespace vmail
