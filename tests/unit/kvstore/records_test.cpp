// SPDX-License-Identifier: Apache-2.0
// The records every agent writes and reads (kvstore/records.hpp): what one
// encodes the other decodes to the same thing, and what would mislead the
// datapath is refused with the key and field.
#include <gtest/gtest.h>

#include "myelin/kvstore/records.hpp"

namespace myelin::kvstore {
namespace {

net::Ipv4 ip(const char* s) { return *net::parse_ipv4(s); }

TEST(KvstoreRecords, KeysFollowTheLayout) {
  EXPECT_EQ(node_key("c1", "node-a"), "myelin/v1/c1/nodes/node-a");
  EXPECT_EQ(endpoint_key("c1", ip("10.244.1.5")), "myelin/v1/c1/endpoints/10.244.1.5");
  EXPECT_EQ(key_name(nodes_prefix("c1"), "myelin/v1/c1/nodes/node-a"), "node-a");
  EXPECT_FALSE(key_name(nodes_prefix("c1"), "myelin/v1/c1/nodes/"));
  EXPECT_FALSE(key_name(nodes_prefix("c1"), "myelin/v1/c1/nodes/a/b"));
  EXPECT_FALSE(key_name(nodes_prefix("c1"), "myelin/v1/c2/nodes/node-a"));
}

TEST(KvstoreRecords, NodeRoundTrip) {
  cluster::Node n;
  n.name = "node-a";
  n.ip = ip("192.168.50.2");
  n.pod_cidrs = {*net::parse_cidr4("10.244.1.0/24"), *net::parse_cidr4("10.245.0.0/16")};
  auto d = decode_node("node-a", encode_node(n));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->name, "node-a");
  EXPECT_EQ(d->ip, n.ip);
  ASSERT_EQ(d->pod_cidrs.size(), 2u);
  EXPECT_EQ(d->pod_cidrs[1].str(), "10.245.0.0/16");
  EXPECT_EQ(d->source, cluster::Source::etcd);
}

TEST(KvstoreRecords, EndpointRoundTrip) {
  cluster::RemoteEndpoint e;
  e.ip = ip("10.244.1.5");
  e.identity = 300;
  e.node = "node-a";
  e.ns = "x";
  e.pod = "a";
  e.named_ports = {{"http", 80, 6}, {"dns", 53, 17}, {"sig", 9000, 132}};
  auto d = decode_endpoint("10.244.1.5", encode_endpoint(e));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->ip, e.ip);
  EXPECT_EQ(d->identity, 300u);
  EXPECT_EQ(d->node, "node-a");
  EXPECT_EQ(d->ns, "x");
  EXPECT_EQ(d->pod, "a");
  ASSERT_EQ(d->named_ports.size(), 3u);
  EXPECT_EQ(d->named_ports[1].name, "dns");
  EXPECT_EQ(d->named_ports[1].port, 53);
  EXPECT_EQ(d->named_ports[1].proto, 17);
  EXPECT_EQ(d->named_ports[2].proto, 132);
}

// The endpoint store takes the CNI's K8S_POD_NAME as given: bytes that are
// not UTF-8 must not throw out of the publisher's thread (the agent would die).
TEST(KvstoreRecords, NotUtf8NamesEncodeWithoutThrowing) {
  cluster::RemoteEndpoint e;
  e.ip = ip("10.244.1.5");
  e.identity = 300;
  e.node = "node-a";
  e.ns = "x";
  e.pod = "p\xff\xfe";
  std::string text;
  ASSERT_NO_THROW(text = encode_endpoint(e));
  auto d = decode_endpoint("10.244.1.5", text);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->pod.rfind("p", 0), 0u);
  EXPECT_NE(d->pod, e.pod);  // replaced, not passed through
  cluster::Node n;
  n.name = "\xc3";
  ASSERT_NO_THROW((void)encode_node(n));
}

TEST(KvstoreRecords, ProtocolDefaultsToTcp) {
  auto d = decode_endpoint("10.0.0.1", R"({"ip":"10.0.0.1","identity":256,"node":"n","namedPorts":[{"name":"h","port":8080}]})");
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d->named_ports.size(), 1u);
  EXPECT_EQ(d->named_ports[0].proto, 6);
}

struct Bad {
  const char* what;
  const char* key;
  const char* json;
  const char* says;  // in the error
};

TEST(KvstoreRecords, EndpointRefusals) {
  const Bad table[] = {
      {"not JSON", "10.0.0.1", "{", "not a JSON object"},
      {"an array", "10.0.0.1", "[]", "not a JSON object"},
      {"key disagrees", "10.0.0.2", R"({"ip":"10.0.0.1","identity":256,"node":"n"})", "not the key's address"},
      {"bad address", "10.0.0.300", R"({"ip":"10.0.0.300","identity":256,"node":"n"})", "ip:"},
      {"identity 0", "10.0.0.1", R"({"ip":"10.0.0.1","identity":0,"node":"n"})", "identity"},
      {"identity beyond a VNI", "10.0.0.1", R"({"ip":"10.0.0.1","identity":16777216,"node":"n"})", "identity"},
      {"identity negative", "10.0.0.1", R"({"ip":"10.0.0.1","identity":-3,"node":"n"})", "identity"},
      {"identity a string", "10.0.0.1", R"({"ip":"10.0.0.1","identity":"256","node":"n"})", "identity"},
      {"no node", "10.0.0.1", R"({"ip":"10.0.0.1","identity":256})", "node"},
      {"empty node", "10.0.0.1", R"({"ip":"10.0.0.1","identity":256,"node":""})", "node: empty"},
      {"port 0", "10.0.0.1", R"({"ip":"10.0.0.1","identity":256,"node":"n","namedPorts":[{"name":"h","port":0}]})", "namedPorts[0]: port"},
      {"port too big", "10.0.0.1", R"({"ip":"10.0.0.1","identity":256,"node":"n","namedPorts":[{"name":"h","port":70000}]})", "port"},
      {"protocol", "10.0.0.1", R"({"ip":"10.0.0.1","identity":256,"node":"n","namedPorts":[{"name":"h","port":1,"protocol":"ICMP"}]})",
       "protocol: 'ICMP'"},
      {"protocol a number", "10.0.0.1", R"({"ip":"10.0.0.1","identity":256,"node":"n","namedPorts":[{"name":"h","port":1,"protocol":6}]})",
       "protocol: not a string"},
      {"ports not a list", "10.0.0.1", R"({"ip":"10.0.0.1","identity":256,"node":"n","namedPorts":{}})", "namedPorts: not a list"},
  };
  for (const auto& b : table) {
    auto d = decode_endpoint(b.key, b.json);
    ASSERT_FALSE(d) << b.what;
    EXPECT_NE(d.error().message.find(b.says), std::string::npos) << b.what << ": " << d.error().message;
    EXPECT_EQ(d.error().message.rfind(std::string("endpoints/") + b.key, 0), 0u) << b.what << ": " << d.error().message;
  }
}

TEST(KvstoreRecords, NodeRefusals) {
  const Bad table[] = {
      {"not JSON", "a", "nope", "not a JSON object"},
      {"name disagrees", "a", R"({"name":"b","ip":"10.0.0.1"})", "not the key's node"},
      {"no ip", "a", R"({"name":"a"})", "ip"},
      {"bad ip", "a", R"({"name":"a","ip":"x"})", "ip:"},
      {"not a network address", "a", R"({"name":"a","ip":"10.0.0.1","podCIDRs":["10.244.1.1/24"]})", "podCIDRs[0]"},
      {"cidr not a string", "a", R"({"name":"a","ip":"10.0.0.1","podCIDRs":[24]})", "podCIDRs[0]"},
  };
  for (const auto& b : table) {
    auto d = decode_node(b.key, b.json);
    ASSERT_FALSE(d) << b.what;
    EXPECT_NE(d.error().message.find(b.says), std::string::npos) << b.what << ": " << d.error().message;
  }
}

}  // namespace
}  // namespace myelin::kvstore
