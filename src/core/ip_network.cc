#include "core/ip_network.h"

#include <arpa/inet.h>

#include <cstring>

namespace vmail {
namespace {

// inet_pton(AF_INET) already refuses leading zeros' octal forms ("010" is
// refused by glibc), short forms and anything after the fourth octet.
std::optional<IpAddress> parse_v4(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  IpAddress out;
  std::memcpy(out.bytes.data(), &a, 4);
  return out;
}

bool is_v4_mapped(const std::array<uint8_t, 16>& b) {
  for (int i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  return b[10] == 0xff && b[11] == 0xff;
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;  // INET6_ADDRSTRLEN - 1
  // inet_pton reads a C string: an embedded NUL would end it early.
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  std::string s(text);
  if (s.find(':') == std::string::npos) return parse_v4(s);
  in6_addr a{};
  if (inet_pton(AF_INET6, s.c_str(), &a) != 1) return std::nullopt;
  IpAddress out;
  out.v6 = true;
  std::memcpy(out.bytes.data(), &a, 16);
  if (is_v4_mapped(out.bytes)) {
    IpAddress v4;
    std::memcpy(v4.bytes.data(), out.bytes.data() + 12, 4);
    return v4;
  }
  return out;
}

std::string IpAddress::text() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

bool IpNetwork::contains(const IpAddress& address) const {
  if (address.v6 != base.v6) return false;
  int full = prefix / 8;
  if (std::memcmp(address.bytes.data(), base.bytes.data(), full) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (address.bytes[full] & mask) == (base.bytes[full] & mask);
}

std::string IpNetwork::text() const { return base.text() + "/" + std::to_string(prefix); }

Result<IpNetwork> parse_network(std::string_view text, const std::string& what) {
  std::string shown = quote(std::string(text.substr(0, 64)));
  size_t slash = text.find('/');
  auto address = parse_ip(text.substr(0, slash));
  if (!address) return Status(Code::kBadInput, what + " " + shown + ": not an IPv4 or IPv6 address");
  // A mapped address was given as IPv6 text: its prefix counts IPv6 bits.
  bool mapped = !address->v6 && text.substr(0, slash).find(':') != std::string_view::npos;
  int max = address->v6 ? 128 : 32;
  IpNetwork n{*address, max};
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string_view::npos ||
        (digits.size() > 1 && digits[0] == '0')) {
      return Status(Code::kBadInput, what + " " + shown + ": the prefix length is not a number");
    }
    int prefix = std::stoi(std::string(digits));
    if (mapped) prefix -= 96;
    if (prefix < 0 || prefix > max) {
      return Status(Code::kBadInput,
                    what + " " + shown + ": the prefix length must be 0-" + std::to_string(mapped ? 128 : max));
    }
    n.prefix = prefix;
  }
  IpNetwork masked = n;
  for (int bit = n.prefix; bit < max; ++bit) masked.base.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  if (!(masked.base == n.base)) {
    return Status(Code::kBadInput, what + " " + shown + ": host bits set (the network is " + masked.text() + ")");
  }
  return n;
}

Result<std::vector<IpNetwork>> parse_network_list(std::string_view text, const std::string& what) {
  std::vector<IpNetwork> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find_first_of(", ", at);
    if (end == std::string_view::npos) end = text.size();
    if (end > at) {
      auto n = parse_network(text.substr(at, end - at), what);
      if (!n.ok()) return n.status();
      out.push_back(*n);
    }
    at = end + 1;
  }
  return out;
}

}  // namespace vmail
