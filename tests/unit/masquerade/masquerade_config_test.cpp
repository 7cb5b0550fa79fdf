// SPDX-License-Identifier: Apache-2.0
// MasqueradeComponent::apply: the masquerade's fields of the node config,
// and only those (routing mode and tunnel device are other components').
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "masquerade/masquerade_component.hpp"

namespace myelin::masquerade {
namespace {

net::Ipv4 ip(const char* s) { return *net::parse_ipv4(s); }

TEST(MasqueradeConfig, SetsItsFieldsAndKeepsTheOthers) {
  myelin_node_config before{};
  before.routing_mode = MYELIN_ROUTING_TUNNEL;
  before.tunnel_ifindex = 7;
  MasqueradeComponent::Options o;
  o.native_cidr = *net::parse_cidr4("10.0.0.0/8");
  o.port_min = 50000;
  o.port_max = 50010;
  auto c = MasqueradeComponent::apply(before, o, ip("192.0.2.10"));
  EXPECT_EQ(c.routing_mode, MYELIN_ROUTING_TUNNEL);
  EXPECT_EQ(c.tunnel_ifindex, 7u);
  EXPECT_TRUE(c.flags & MYELIN_NODE_F_MASQUERADE);
  EXPECT_EQ(c.node_ip, inet_addr("192.0.2.10"));
  EXPECT_EQ(c.native_cidr, inet_addr("10.0.0.0"));
  EXPECT_EQ(c.native_prefix, 8);
  EXPECT_EQ(c.snat_port_min, 50000);
  EXPECT_EQ(c.snat_port_max, 50010);
}

TEST(MasqueradeConfig, OffOrWithoutAnAddressClearsTheFlag) {
  myelin_node_config before{};
  before.flags = MYELIN_NODE_F_MASQUERADE;
  before.native_prefix = 16;
  MasqueradeComponent::Options o;
  o.enabled = false;
  auto c = MasqueradeComponent::apply(before, o, ip("192.0.2.10"));
  EXPECT_FALSE(c.flags & MYELIN_NODE_F_MASQUERADE);
  EXPECT_EQ(c.node_ip, inet_addr("192.0.2.10")) << "the node's address is still the node's";
  EXPECT_EQ(c.native_prefix, 0) << "no --native-routing-cidr: none";
  o.enabled = true;
  c = MasqueradeComponent::apply(before, o, std::nullopt);
  EXPECT_FALSE(c.flags & MYELIN_NODE_F_MASQUERADE) << "nothing to masquerade to";
  EXPECT_EQ(c.snat_port_min, MYELIN_SNAT_PORT_MIN_DEFAULT);
  EXPECT_EQ(c.snat_port_max, MYELIN_SNAT_PORT_MAX_DEFAULT);
}

TEST(MasqueradeConfig, NodeIpFlagWins) {
  MasqueradeComponent::Options o;
  o.node_ip = ip("198.51.100.4");
  EXPECT_EQ(MasqueradeComponent::node_address(o), ip("198.51.100.4"));
}

}  // namespace
}  // namespace myelin::masquerade
