// SPDX-License-Identifier: Apache-2.0
#include "myelin/kvstore/records.hpp"

#include <nlohmann/json.hpp>

#include "myelin/identity/identity_allocator.hpp"
#include "myelin/kvstore/etcd.hpp"

namespace myelin::kvstore {
namespace {

using nlohmann::json;

std::string proto_name(uint8_t p) {
  switch (p) {
    case 6: return "TCP";
    case 17: return "UDP";
    case 132: return "SCTP";
  }
  return std::to_string(p);
}

std::optional<uint8_t> parse_proto(const std::string& s) {
  if (s == "TCP") return 6;
  if (s == "UDP") return 17;
  if (s == "SCTP") return 132;
  return std::nullopt;
}

// A string member, or an error naming it.
Result<std::string> str(const json& j, const char* field, const std::string& where) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_string()) return Error{where + ": " + field + ": missing or not a string"};
  return it->get<std::string>();
}

Result<json> parse_object(const std::string& text, const std::string& where) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error{where + ": not a JSON object"};
  return j;
}

}  // namespace

std::string nodes_prefix(const std::string& cluster) { return key_prefix(cluster) + "nodes/"; }
std::string endpoints_prefix(const std::string& cluster) { return key_prefix(cluster) + "endpoints/"; }
std::string node_key(const std::string& cluster, const std::string& node) { return nodes_prefix(cluster) + node; }
std::string endpoint_key(const std::string& cluster, net::Ipv4 ip) { return endpoints_prefix(cluster) + ip.str(); }

std::optional<std::string> key_name(const std::string& prefix, const std::string& key) {
  if (key.size() <= prefix.size() || key.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  std::string name = key.substr(prefix.size());
  if (name.find('/') != std::string::npos) return std::nullopt;
  return name;
}

std::string encode_node(const cluster::Node& n) {
  json j{{"name", n.name}, {"ip", n.ip.str()}, {"podCIDRs", json::array()}};
  for (const auto& c : n.pod_cidrs) j["podCIDRs"].push_back(c.str());
  return j.dump(-1, ' ', false, json::error_handler_t::replace);  // never throws on bad UTF-8
}

Result<cluster::Node> decode_node(const std::string& name, const std::string& text) {
  const std::string where = "nodes/" + name;
  auto j = parse_object(text, where);
  if (!j) return j.error();
  cluster::Node n;
  auto nm = str(*j, "name", where);
  if (!nm) return nm.error();
  if (*nm != name) return Error{where + ": name: '" + *nm + "' is not the key's node"};
  n.name = *nm;
  auto ip_text = str(*j, "ip", where);
  if (!ip_text) return ip_text.error();
  auto ip = net::parse_ipv4(*ip_text);
  if (!ip) return Error{where + ": ip: " + ip.error().message};
  n.ip = *ip;
  if (auto it = j->find("podCIDRs"); it != j->end()) {
    if (!it->is_array()) return Error{where + ": podCIDRs: not a list"};
    for (size_t i = 0; i < it->size(); ++i) {
      const auto& c = (*it)[i];
      auto cidr = c.is_string() ? net::parse_cidr4(c.get<std::string>()) : Result<net::Cidr4>(Error{"not a string"});
      if (!cidr) return Error{where + ": podCIDRs[" + std::to_string(i) + "]: " + cidr.error().message};
      n.pod_cidrs.push_back(*cidr);
    }
  }
  n.source = cluster::Source::etcd;
  return n;
}

std::string encode_endpoint(const cluster::RemoteEndpoint& e) {
  json ports = json::array();
  for (const auto& p : e.named_ports) ports.push_back({{"name", p.name}, {"port", p.port}, {"protocol", proto_name(p.proto)}});
  return json{{"ip", e.ip.str()},      {"identity", e.identity}, {"node", e.node},
              {"namespace", e.ns},     {"pod", e.pod},           {"namedPorts", std::move(ports)}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<cluster::RemoteEndpoint> decode_endpoint(const std::string& ip_name, const std::string& text) {
  const std::string where = "endpoints/" + ip_name;
  auto j = parse_object(text, where);
  if (!j) return j.error();
  cluster::RemoteEndpoint e;
  auto ip_text = str(*j, "ip", where);
  if (!ip_text) return ip_text.error();
  if (*ip_text != ip_name) return Error{where + ": ip: '" + *ip_text + "' is not the key's address"};
  auto ip = net::parse_ipv4(*ip_text);
  if (!ip) return Error{where + ": ip: " + ip.error().message};
  e.ip = *ip;
  auto id = j->find("identity");
  if (id == j->end() || !id->is_number_unsigned() || id->get<uint64_t>() == 0 || id->get<uint64_t>() > identity::kLastClusterIdentity)
    return Error{where + ": identity: missing or not a cluster identity (1 to 2^24-1)"};
  e.identity = static_cast<uint32_t>(id->get<uint64_t>());
  auto node = str(*j, "node", where);
  if (!node) return node.error();
  if (node->empty()) return Error{where + ": node: empty"};
  e.node = *node;
  // Namespace and pod name are what flows show: optional (a host endpoint has none).
  if (auto it = j->find("namespace"); it != j->end() && it->is_string()) e.ns = it->get<std::string>();
  if (auto it = j->find("pod"); it != j->end() && it->is_string()) e.pod = it->get<std::string>();
  if (auto it = j->find("namedPorts"); it != j->end()) {
    if (!it->is_array()) return Error{where + ": namedPorts: not a list"};
    for (size_t i = 0; i < it->size(); ++i) {
      const auto& p = (*it)[i];
      const std::string at = where + ": namedPorts[" + std::to_string(i) + "]";
      if (!p.is_object()) return Error{at + ": not an object"};
      cluster::NamedPort np;
      auto name = str(p, "name", at);
      if (!name) return name.error();
      np.name = *name;
      auto port = p.find("port");
      if (port == p.end() || !port->is_number_unsigned() || port->get<uint64_t>() == 0 || port->get<uint64_t>() > 65535)
        return Error{at + ": port: missing or not 1-65535"};
      np.port = static_cast<uint16_t>(port->get<uint64_t>());
      auto pit = p.find("protocol");
      if (pit != p.end() && !pit->is_string()) return Error{at + ": protocol: not a string"};
      const std::string proto = pit == p.end() ? "TCP" : pit->get<std::string>();
      auto pr = parse_proto(proto);
      if (!pr) return Error{at + ": protocol: '" + proto + "' is not TCP, UDP or SCTP"};
      np.proto = *pr;
      e.named_ports.push_back(std::move(np));
    }
  }
  e.source = cluster::Source::etcd;
  return e;
}

}  // namespace myelin::kvstore
