// Table tests for the abuse controls' addresses and networks (ip_network.h):
// `vmail ban add ADDRESS`, VMAIL_BAN_IGNORE, Dovecot's rip.
#include "core/ip_network.h"

#include <gtest/gtest.h>

#include <string>

namespace vmail {
namespace {

struct AddressCase {
  std::string input;
  std::string canonical;  // "" when refused
};

const AddressCase kAddresses[] = {
    {"127.0.0.2", "127.0.0.2"},
    {"203.0.113.9", "203.0.113.9"},
    {"::1", "::1"},
    {"2001:DB8::0:1", "2001:db8::1"},
    {"::ffff:192.0.2.1", "192.0.2.1"},  // mapped: one key per client
    {"2001:db8:0:0:0:0:0:1", "2001:db8::1"},
    // Hostile or wrong.
    {"", ""},
    {" 127.0.0.1", ""},
    {"127.0.0.1 ", ""},
    {"127.0.0", ""},
    {"127.0.0.1.5", ""},
    {"256.0.0.1", ""},
    {"010.0.0.1", ""},
    {"0x7f.0.0.1", ""},
    {"127.1", ""},
    {"[::1]", ""},
    {"fe80::1%eth0", ""},
    {"1:2:3:4:5:6:7:8:9", ""},
    {"127.0.0.1/32", ""},
    {"localhost", ""},
    {std::string("127.0.0.1\0x", 11), ""},
    {"127.0.0.1\n", ""},
    {std::string(100, '1'), ""},
};

TEST(IpNetworkTest, AddressesAreParsedStrictly) {
  for (const auto& c : kAddresses) {
    auto a = parse_ip(c.input);
    if (c.canonical.empty()) {
      EXPECT_FALSE(a) << c.input;
    } else {
      ASSERT_TRUE(a) << c.input;
      EXPECT_EQ(a->text(), c.canonical) << c.input;
    }
  }
}

struct NetworkCase {
  std::string input;
  std::string canonical;  // "" when refused
  std::string reason;     // substring of the message when refused
};

const NetworkCase kNetworks[] = {
    {"127.0.0.1/32", "127.0.0.1/32", ""},
    {"10.0.0.0/8", "10.0.0.0/8", ""},
    {"0.0.0.0/0", "0.0.0.0/0", ""},
    {"192.0.2.7", "192.0.2.7/32", ""},
    {"::1/128", "::1/128", ""},
    {"2001:db8::/32", "2001:db8::/32", ""},
    {"::/0", "::/0", ""},
    {"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
    {"10.0.0.1/8", "", "host bits"},
    {"2001:db8::1/32", "", "host bits"},
    {"10.0.0.0/33", "", "0-32"},
    {"::1/129", "", "0-128"},
    {"10.0.0.0/", "", "prefix"},
    {"10.0.0.0/08", "", "prefix"},
    {"10.0.0.0/-1", "", "prefix"},
    {"10.0.0.0/8/8", "", "prefix"},
    {"10.0.0.0/ 8", "", "prefix"},
    {"10.0.0.0/1000", "", "prefix"},
    {"example.com/8", "", "not an IPv4 or IPv6"},
    {"/8", "", "not an IPv4 or IPv6"},
    {"[::1]/128", "", "not an IPv4 or IPv6"},
};

TEST(IpNetworkTest, NetworksAreParsedStrictly) {
  for (const auto& c : kNetworks) {
    auto n = parse_network(c.input, "VMAIL_BAN_IGNORE");
    if (c.canonical.empty()) {
      ASSERT_FALSE(n.ok()) << c.input;
      EXPECT_EQ(n.status().code(), Code::kBadInput);
      EXPECT_NE(n.status().message().find("VMAIL_BAN_IGNORE"), std::string::npos) << n.status().message();
      EXPECT_NE(n.status().message().find(c.reason), std::string::npos) << n.status().message();
      EXPECT_EQ(n.status().message().find('\n'), std::string::npos);
    } else {
      ASSERT_TRUE(n.ok()) << c.input << ": " << n.status().message();
      EXPECT_EQ(n->text(), c.canonical);
    }
  }
}

TEST(IpNetworkTest, ContainsMatchesThePrefixOnly) {
  auto net = parse_network("192.0.2.0/25", "x");
  ASSERT_TRUE(net.ok());
  EXPECT_TRUE(net->contains(*parse_ip("192.0.2.0")));
  EXPECT_TRUE(net->contains(*parse_ip("192.0.2.127")));
  EXPECT_FALSE(net->contains(*parse_ip("192.0.2.128")));
  EXPECT_FALSE(net->contains(*parse_ip("::ffff:192.0.2.200")));
  EXPECT_TRUE(net->contains(*parse_ip("::ffff:192.0.2.5")));
  EXPECT_FALSE(net->contains(*parse_ip("2001:db8::1")));  // another family
  auto v6 = parse_network("2001:db8::/33", "x");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->contains(*parse_ip("2001:db8:7fff::1")));
  EXPECT_FALSE(v6->contains(*parse_ip("2001:db8:8000::1")));
  auto all = parse_network("0.0.0.0/0", "x");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->contains(*parse_ip("203.0.113.1")));
}

TEST(IpNetworkTest, ListsSplitOnCommasAndSpaces) {
  auto list = parse_network_list("127.0.0.1/32,::1/128  10.0.0.0/8,", "VMAIL_BAN_IGNORE");
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[2].text(), "10.0.0.0/8");
  auto empty = parse_network_list("", "VMAIL_BAN_IGNORE");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  auto bad = parse_network_list("127.0.0.1/32,10.0.0.1/8", "VMAIL_BAN_IGNORE");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"10.0.0.1/8\""), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace vmail
