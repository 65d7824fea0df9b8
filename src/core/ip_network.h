// IP addresses and networks as the abuse controls take them (issue 25):
// `vmail ban add ADDRESS`, VMAIL_BAN_IGNORE, and the client address Dovecot
// reports. Strict: an IPv4 address is four decimal octets without leading
// zeros, an IPv6 address what inet_pton(AF_INET6) takes (no zone, no
// brackets); a network is ADDRESS/PREFIX with a decimal prefix in range and
// no host bits set. libc only (part of vmail_base); pure and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace vmail {

struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4: the first 4
  // The canonical text (inet_ntop): the form bans are stored and shown in.
  std::string text() const;
  bool operator==(const IpAddress&) const = default;
};

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is taken as the IPv4 address,
// so one client has one key whichever socket family saw it.
std::optional<IpAddress> parse_ip(std::string_view text);

struct IpNetwork {
  IpAddress base;
  int prefix = 0;  // 0-32 or 0-128
  bool contains(const IpAddress& address) const;
  std::string text() const;  // "base/prefix"
};

// One network, "ADDRESS/PREFIX" (a bare address is a /32 or /128).
// kBadInput naming `what` and the reason.
Result<IpNetwork> parse_network(std::string_view text, const std::string& what);

// A list of networks separated by commas and/or spaces; an empty list is
// valid (nothing ignored). kBadInput naming `what` and the first bad item.
Result<std::vector<IpNetwork>> parse_network_list(std::string_view text, const std::string& what);

}  // namespace vmail
