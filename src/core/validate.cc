#include "core/validate.h"

#include <idn2.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>

#include "core/password.h"

namespace vmail {
namespace {

Status bad(std::string_view field, std::string_view value, std::string_view reason) {
  return Status(Code::kBadInput, std::string(field) + " " + quote(value) + ": " + std::string(reason));
}

std::string lowercase_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool has_control(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool is_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr std::array<uint32_t, 5> kMin = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

namespace {

// Returns why `local` (already lowercase) is not a valid local part, or "".
std::string local_part_problem(std::string_view local) {
  if (local.empty()) return "empty local part";
  if (local.size() > 64) return "local part longer than 64 characters";
  for (char c : local) {
    if (c == '+') return "'+' is the recipient delimiter and not allowed";
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (ok) continue;
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "control character in local part";
    if (c >= 'A' && c <= 'Z') return "uppercase letter in local part";
    if (static_cast<unsigned char>(c) >= 0x80) return "non-ASCII character in local part";
    return std::string("character '") + c + "' not allowed in local part (a-z 0-9 . _ -)";
  }
  if (local.front() == '.') return "local part starts with a dot";
  if (local.back() == '.') return "local part ends with a dot";
  if (local.find("..") != std::string_view::npos) return "doubled dot in local part";
  return "";
}

// True when `label` (lowercase, "xn--...") decodes to a U-label that
// IDNA2008 (IDN2_NO_TR46: no mapping) encodes back to exactly `label`. This
// refuses broken punycode (xn--, xn--zz), labels that decode to nothing or to
// something IDNA2008 disallows (xn--a, symbols, emoji) and non-canonical
// encodings, which DNS and Postfix would treat as a different name.
bool a_label_round_trips(std::string_view label) {
  char* decoded = nullptr;
  std::string in(label);
  if (idn2_to_unicode_8z8z(in.c_str(), &decoded, 0) != IDN2_OK) return false;
  std::unique_ptr<char, decltype(&idn2_free)> u(decoded, idn2_free);
  if (decoded[0] == '\0' || is_ascii(decoded)) return false;
  char* encoded = nullptr;
  if (idn2_lookup_u8(reinterpret_cast<const uint8_t*>(decoded), reinterpret_cast<uint8_t**>(&encoded), IDN2_NO_TR46) !=
      IDN2_OK) {
    return false;
  }
  std::unique_ptr<char, decltype(&idn2_free)> a(encoded, idn2_free);
  return label == encoded;
}

// Normalises `input` into *out, or returns why it is not a valid domain.
std::string domain_problem(std::string_view input, std::string* out) {
  if (input.empty()) return "empty domain";
  if (has_control(input)) return "control character in domain";
  std::string domain;
  if (is_ascii(input)) {
    domain = lowercase_ascii(input);
  } else {
    if (!is_valid_utf8(input)) return "domain is not valid UTF-8";
    char* converted = nullptr;
    std::string in(input);
    int rc = idn2_lookup_u8(reinterpret_cast<const uint8_t*>(in.c_str()), reinterpret_cast<uint8_t**>(&converted),
                            IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK) return std::string("not a valid internationalised domain (") + idn2_strerror(rc) + ")";
    std::unique_ptr<char, decltype(&idn2_free)> owned(converted, idn2_free);
    domain = lowercase_ascii(converted);
  }
  if (domain.size() > 253) return "domain longer than 253 characters";
  if (domain.front() == '.') return "domain starts with a dot";
  if (domain.back() == '.') return "domain ends with a dot";
  size_t labels = 0;
  size_t start = 0;
  while (true) {
    size_t end = domain.find('.', start);
    std::string_view label =
        std::string_view(domain).substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (label.empty()) return "empty label (doubled dot) in domain";
    if (label.size() > 63) return "domain label longer than 63 characters";
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return std::string("character '") + c + "' not allowed in domain (letters, digits, '-')";
    }
    if (label.front() == '-' || label.back() == '-') return "domain label starts or ends with '-'";
    if (label.size() >= 4 && label[2] == '-' && label[3] == '-') {
      if (label.substr(0, 4) != "xn--") return "domain label has '--' in third and fourth position";
      if (!a_label_round_trips(label)) return "invalid punycode label in domain (not an IDNA2008 A-label)";
    }
    ++labels;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (labels < 2) return "domain needs at least two labels";
  bool numeric_tld = true;
  for (size_t i = domain.rfind('.') + 1; i < domain.size(); ++i) {
    if (domain[i] < '0' || domain[i] > '9') numeric_tld = false;
  }
  if (numeric_tld) return "top-level label is all digits (an IP address is not a domain)";
  *out = std::move(domain);
  return "";
}

Result<Address> parse_address_impl(std::string_view text, std::string_view field, bool allow_catch_all) {
  if (text.empty()) return bad(field, text, "empty address");
  if (has_control(text)) return bad(field, text, "control character in address");
  if (text.size() > 64 + 1 + 253) return bad(field, text, "address longer than 318 characters");
  size_t at = text.find('@');
  if (at == std::string_view::npos) return bad(field, text, "no '@'");
  if (text.find('@', at + 1) != std::string_view::npos) return bad(field, text, "two '@'");
  Address address;
  address.local = lowercase_ascii(text.substr(0, at));
  if (!address.local.empty() || !allow_catch_all) {
    if (std::string why = local_part_problem(address.local); !why.empty()) return bad(field, text, why);
  }
  if (std::string why = domain_problem(text.substr(at + 1), &address.domain); !why.empty()) {
    return bad(field, text, why);
  }
  return address;
}

}  // namespace

Status check_local_part(std::string_view local, std::string_view field) {
  if (std::string why = local_part_problem(local); !why.empty()) return bad(field, local, why);
  return Status::Ok();
}

Result<std::string> normalize_domain(std::string_view input, std::string_view field) {
  std::string out;
  if (std::string why = domain_problem(input, &out); !why.empty()) return bad(field, input, why);
  return out;
}

Result<Address> parse_address(std::string_view text, std::string_view field) {
  return parse_address_impl(text, field, false);
}

Result<Address> parse_alias_source(std::string_view text, std::string_view field) {
  return parse_address_impl(text, field, true);
}

Status check_display_name(std::string_view name, std::string_view field) {
  if (!is_valid_utf8(name)) return bad(field, name, "not valid UTF-8");
  size_t chars = 0;
  for (unsigned char c : name) {
    if ((c & 0xc0) != 0x80) ++chars;
    if (c < 0x20 || c == 0x7f) return bad(field, name, "control character in name");
    if (c == ':') return bad(field, name, "':' not allowed in name");
  }
  // C1 controls (U+0080-U+009F) are encoded as C2 80-9F.
  for (size_t i = 0; i + 1 < name.size(); ++i) {
    if (static_cast<unsigned char>(name[i]) == 0xc2 && static_cast<unsigned char>(name[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(name[i + 1]) <= 0x9f) {
      return bad(field, name, "control character in name");
    }
  }
  if (chars > 128) return bad(field, name, "longer than 128 characters");
  return Status::Ok();
}

Status check_password(std::string_view password, std::string_view field) {
  // Never echo a password into a message.
  if (password.size() < 8) return Status(Code::kBadInput, std::string(field) + ": shorter than 8 bytes");
  if (password.size() > 511) return Status(Code::kBadInput, std::string(field) + ": longer than 511 bytes");
  if (has_control(password)) return Status(Code::kBadInput, std::string(field) + ": control character in password");
  return Status::Ok();
}

Status check_hash(std::string_view hash, std::string_view field, HashUse use) {
  // A hash is as good as a password to an offline guesser: the message names
  // the field and the reason, never the value (nor a part of it).
  auto bad_hash = [field](std::string_view reason) {
    return Status(Code::kBadInput, std::string(field) + ": " + std::string(reason));
  };
  if (hash.empty()) return bad_hash("empty hash");
  // Exports check every stored hash: one table lookup a byte, the reason
  // worked out only for a refused one.
  static constexpr auto kAllowed = [] {
    std::array<bool, 256> ok{};
    for (int c = 0x21; c < 0x7f; ++c) ok[c] = c != ':';
    return ok;
  }();
  for (unsigned char c : hash) {
    if (kAllowed[c]) continue;
    if (c < 0x20 || c == 0x7f) return bad_hash("control character in hash");
    if (c == ' ' || c == '\t') return bad_hash("whitespace in hash");
    if (c == ':') return bad_hash("':' not allowed in hash");
    return bad_hash("non-ASCII character in hash");
  }
  if (hash.front() != '{') return bad_hash("must start with {SCHEME}");
  size_t close = hash.find('}');
  if (close == std::string_view::npos) return bad_hash("unterminated {SCHEME}");
  std::string scheme = std::string(hash.substr(1, close - 1));
  for (char& c : scheme) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  if (std::string why = hash_problem(scheme, hash.substr(close + 1), use); !why.empty()) return bad_hash(why);
  return Status::Ok();
}

Result<std::optional<uint64_t>> parse_quota(std::string_view text, std::string_view field) {
  if (text == "none" || text == "NONE") return std::optional<uint64_t>();
  if (text.empty()) return bad(field, text, "empty quota (use N[K|M|G|T] or none)");
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return bad(field, text, "not a size (use N[K|M|G|T] or none)");
  std::string_view unit = text.substr(digits);
  uint64_t mult = 1;
  if (unit.empty() || unit == "B" || unit == "b") {
    mult = 1;
  } else if (unit.size() == 1) {
    switch (unit[0]) {
      case 'K':
      case 'k': mult = 1ULL << 10; break;
      case 'M':
      case 'm': mult = 1ULL << 20; break;
      case 'G':
      case 'g': mult = 1ULL << 30; break;
      case 'T':
      case 't': mult = 1ULL << 40; break;
      default: return bad(field, text, "unknown unit (use K, M, G or T)");
    }
  } else {
    return bad(field, text, "unknown unit (use K, M, G or T)");
  }
  if (digits > 19) return bad(field, text, "too large");
  uint64_t n = 0;
  for (size_t i = 0; i < digits; ++i) {
    uint64_t d = static_cast<uint64_t>(text[i] - '0');
    if (n > (UINT64_MAX - d) / 10) return bad(field, text, "too large");
    n = n * 10 + d;
  }
  // SPEC: a quota is at least 1 byte; "no limit" is spelled none, never 0
  // (Dovecot would read a 0 limit as unlimited, the admin likely meant full).
  if (n == 0) return bad(field, text, "0 is not a quota (use none for no limit)");
  // Keep quotas within SQLite's signed 64-bit integers.
  constexpr uint64_t kMaxBytes = static_cast<uint64_t>(INT64_MAX);
  if (n != 0 && mult > kMaxBytes / n) return bad(field, text, "too large");
  return std::optional<uint64_t>(n * mult);
}

Result<bool> parse_boolean(std::string_view text, bool empty_value, std::string_view field) {
  if (text.empty()) return empty_value;
  std::string lower = lowercase_ascii(text);
  if (lower == "true" || lower == "yes" || lower == "1" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "0" || lower == "off") return false;
  return bad(field, text, "not a boolean (use on/off, true/false, yes/no or 1/0)");
}

Result<std::vector<std::string>> parse_destinations(std::string_view list, std::string_view source,
                                                    std::string_view field) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t end = list.find(',', start);
    std::string_view item = list.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!item.empty() && space(item.front())) item.remove_prefix(1);
    while (!item.empty() && space(item.back())) item.remove_suffix(1);
    auto dest = parse_address(item, field);
    if (!dest.ok()) return dest.status();
    std::string text = dest->str();
    if (std::find(out.begin(), out.end(), text) != out.end()) return bad(field, text, "given twice");
    if (text == source) return bad(field, text, "an alias cannot point to itself");
    out.push_back(std::move(text));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

std::string format_quota(uint64_t bytes) {
  static constexpr std::array<std::pair<uint64_t, char>, 4> kUnits = {
      {{1ULL << 40, 'T'}, {1ULL << 30, 'G'}, {1ULL << 20, 'M'}, {1ULL << 10, 'K'}}};
  if (bytes == 0) return "0";
  for (auto [size, unit] : kUnits) {
    if (bytes % size == 0) return std::to_string(bytes / size) + unit;
  }
  return std::to_string(bytes);
}

Result<std::vector<std::string>> parse_destination_args(const std::vector<std::string>& args, std::string_view source,
                                                        std::string_view field) {
  std::vector<std::string> dests;
  for (const std::string& arg : args) {
    auto parsed = parse_destinations(arg, source, field);
    if (!parsed.ok()) return parsed.status();
    for (std::string& d : *parsed) {
      if (std::find(dests.begin(), dests.end(), d) != dests.end()) {
        return Status(Code::kBadInput, std::string(field) + " " + quote(d) + ": given twice");
      }
      dests.push_back(std::move(d));
    }
  }
  return dests;
}

}  // namespace vmail
