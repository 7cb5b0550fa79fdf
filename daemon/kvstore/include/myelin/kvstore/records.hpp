// SPDX-License-Identifier: Apache-2.0
// The node and endpoint records of etcd.hpp's key layout, as JSON: what an
// agent publishes under its lease and what every other agent decodes into
// cluster::ClusterState. One codec for both ends (and the scale simulator),
// so writer and reader cannot drift.
//   nodes/<node>     {"name", "ip", "podCIDRs": ["10.244.1.0/24"]}
//   endpoints/<ip>   {"ip", "identity", "node", "namespace", "pod",
//                     "namedPorts": [{"name", "port", "protocol": "TCP"}]}
// A decoder refuses what would mislead the datapath (a key that disagrees
// with its record, an address that does not parse, an identity outside the
// 24 bits a VNI carries) with an error naming the key and field.
#pragma once

#include <optional>
#include <string>

#include "myelin/cluster/cluster_state.hpp"
#include "myelin/result.hpp"

namespace myelin::kvstore {

std::string nodes_prefix(const std::string& cluster);      // key_prefix + "nodes/"
std::string endpoints_prefix(const std::string& cluster);  // key_prefix + "endpoints/"
std::string node_key(const std::string& cluster, const std::string& node);
std::string endpoint_key(const std::string& cluster, net::Ipv4 ip);

// Node: name, ip, pod_cidrs. Source, local, updated and problem are this
// node's view, not part of the record.
std::string encode_node(const cluster::Node& n);
// `name` is the key's last part: the record must agree with it.
Result<cluster::Node> decode_node(const std::string& name, const std::string& json);

std::string encode_endpoint(const cluster::RemoteEndpoint& e);
// `ip` is the key's last part (the address as text).
Result<cluster::RemoteEndpoint> decode_endpoint(const std::string& ip, const std::string& json);

// The last part of a key under `prefix`, or nullopt when the key is not
// directly under it (an empty or nested name).
std::optional<std::string> key_name(const std::string& prefix, const std::string& key);

}  // namespace myelin::kvstore
