// SPDX-License-Identifier: Apache-2.0
// The Kubernetes objects policy is computed from, as plain values: label
// selectors, namespaces, pods (their labels and named ports), and network
// policies in one normalised form that NetworkPolicy, CiliumNetworkPolicy
// and CiliumClusterwideNetworkPolicy all decode into.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace myelin::policy {

using Labels = std::map<std::string, std::string>;

// matchLabels + matchExpressions (In, NotIn, Exists, DoesNotExist). An empty
// selector matches everything.
struct Selector {
  struct Expr {
    std::string key;
    enum class Op { In, NotIn, Exists, DoesNotExist } op = Op::In;
    std::vector<std::string> values;
  };
  std::map<std::string, std::string> match_labels;
  std::vector<Expr> exprs;
  bool matches(const Labels& labels) const;
  bool empty() const { return match_labels.empty() && exprs.empty(); }
};

struct Namespace {
  std::string name;
  Labels labels;  // kubernetes.io/metadata.name is added by the decoder
};

struct NamedPort {
  std::string name;
  uint16_t port = 0;
  uint8_t proto = 6;
};

struct Workload {
  std::string kind, name;  // e.g. Deployment frontend (a ReplicaSet owner is reported as its Deployment)
};

struct Pod {
  std::string ns, name;
  Labels labels;
  std::vector<NamedPort> ports;     // containers' named ports (a Service's named targetPort resolves against them)
  std::vector<Workload> workloads;  // from metadata.ownerReferences
  // What the EndpointSlice controller reads, for the endpoints Myelin
  // derives for a selector Service without slices (services/translate.hpp).
  std::vector<std::string> ips;     // status.podIPs (status.podIP alone when only it is set)
  std::string node_name;            // spec.nodeName
  bool terminating = false;         // metadata.deletionTimestamp set
  bool terminal = false;            // status.phase Succeeded or Failed: in no endpoints
  std::optional<bool> ready;        // status.conditions[type=Ready]: True / False; unset when not given
};

struct PortRule {
  uint8_t proto = 0;          // 0 = any protocol
  uint16_t port = 0;          // 0 with no name = every port
  uint16_t end_port = 0;      // range end (inclusive), 0 = single port
  std::string name;           // named port, resolved against the pod that owns it
};

struct Cidr {
  std::string cidr;
  std::vector<std::string> except;
};

// One peer: pods selected by (namespace selector AND pod selector), or CIDRs,
// or entities. NetworkPolicy's "from: [...]" is a list of peers (OR).
struct Peer {
  std::optional<Selector> pods;          // unset with namespaces set: every pod of those namespaces
  std::optional<Selector> namespaces;    // unset: the policy's own namespace (NetworkPolicy, CNP)
  bool any_namespace = false;            // CCNP / CNP selectors that name no namespace, or namespaceSelector {}
  std::vector<Cidr> cidrs;
  // NetworkPolicy ipBlock: the CIDRs select every address in them, pods and
  // nodes included. Unset (Cilium's fromCIDR/toCIDR/CIDRSet): only addresses
  // that are not cluster endpoints, which are selected by labels.
  bool ipblock = false;
  std::vector<std::string> entities;     // host, world, cluster, all, remote-node
  std::string field;                     // where it was written, for attribution: "from[1]", "toCIDRSet", ...
};

struct Rule {
  std::string field;                     // "ingress[0]", "egressDeny[2]", ...
  bool deny = false;
  bool all_peers = false;                // no from/to: everyone
  std::vector<Peer> peers;
  std::vector<PortRule> ports;           // empty: every port and protocol
};

struct NetworkPolicy {
  std::string kind;                      // NetworkPolicy, CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy
  std::string ns, name;                  // ns empty for cluster-wide
  Selector subject;                      // podSelector / endpointSelector
  bool ingress_type = false, egress_type = false;  // which directions it enforces
  std::vector<Rule> ingress, egress;
  bool audit = false;                    // annotation myelin.io/audit-mode: "true"
  std::string source;                    // file:line it came from, for messages
};

}  // namespace myelin::policy
