// SPDX-License-Identifier: Apache-2.0
// PolicyCompiler: from policies, namespaces and the node's endpoints to the
// datapath's per-endpoint entries. Peers are resolved to security identities
// (pods by labels, CIDRs by CIDR identities whose labels name every
// referenced CIDR that contains them, entities by reserved identities), so
// the datapath never matches labels or addresses itself. Pure: no I/O.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "myelin/policy/model.hpp"

namespace myelin::policy {

// What the compiler may select: one security identity and what it stands for.
struct IdentityView {
  uint32_t id = 0;
  enum class Kind { pod, cidr, reserved } kind = Kind::pod;
  std::string ns;                   // pod identities
  Labels labels;                    // pod labels
  Labels ns_labels;                 // the namespace's labels
  std::vector<NamedPort> ports;     // named ports of the pods with this identity
  std::set<std::string> cidrs;      // cidr identities: every referenced CIDR containing this prefix
  std::string reserved;             // host, world, remote-node, ...
};

struct LocalEndpoint {
  uint32_t ep_id = 0;
  uint32_t identity = 0;
  std::string ns;
  Labels labels;
  std::vector<NamedPort> ports;
};

struct Entry {
  bool deny = false;
  uint8_t dir = 0;          // MYELIN_DIR_INGRESS / EGRESS
  uint8_t proto = 0;        // 0 = any
  uint16_t lo = 0, hi = 65535;
  uint32_t identity = 0;    // 0 = any
  uint32_t policy = 0;      // index into the policy list + 1
  bool audit = false;
  // Which rule, peer (0: the rule has no peers) and CIDR of the peer (0:
  // not a CIDR) made it, 1-based, for attribution (rule_text).
  uint16_t rule = 0, peer = 0, cidr = 0;
  bool operator<(const Entry& o) const {
    return std::tie(deny, dir, proto, lo, hi, identity, policy, audit, rule, peer, cidr) <
           std::tie(o.deny, o.dir, o.proto, o.lo, o.hi, o.identity, o.policy, o.audit, o.rule, o.peer, o.cidr);
  }
  bool operator==(const Entry& o) const = default;
};

struct EndpointPolicy {
  bool ingress_enforced = false, egress_enforced = false, audit = false;
  std::vector<Entry> entries;          // sorted, unique
  std::vector<uint32_t> selected_by;   // policies (index + 1) that select this endpoint
};

// Every CIDR (cidr and except) the policies reference, normalised ("10.0.0.0/8").
std::set<std::string> referenced_cidrs(const std::vector<NetworkPolicy>& policies);

// What the datapath decides for one first packet, with the deciding entry.
struct Decision {
  enum class Kind { allowed_by_rule, allowed_not_enforced, denied_by_rule, denied_by_default } kind;
  const Entry* entry = nullptr;
  bool allowed() const { return kind == Kind::allowed_by_rule || kind == Kind::allowed_not_enforced; }
};
// As the datapath: `remote_ipblock` is the ipblock_identity of the remote's
// address in the ipcache (0: none), whose MYELIN_IDENTITY_IPBLOCK entries
// are looked up when the remote's own identity finds no allow.
Decision evaluate(const EndpointPolicy& ep, uint8_t dir, uint32_t remote_identity, uint8_t proto, uint16_t port,
                  uint32_t remote_ipblock = 0);

// The rule an entry came from, as written: "ingress[0].from[1]: ipBlock
// 10.0.0.0/8 except 10.1.0.0/16", "egress[0].toCIDRSet[0]: ...", "ingress[2]".
std::string rule_text(const NetworkPolicy& p, const Entry& e);

// A remote as the datapath sees it: its identity and the ipBlock identity
// of its address (0: none).
struct Remote {
  uint32_t identity = 0, ipblock = 0;
};
// Whether a remote policy means as `meant` but the datapath sees as `got`
// (an ipcache entry could not be installed, so the longest installed prefix,
// or world, answers for its address) would be allowed something `meant` is
// not: some direction, protocol and port where `got` passes and `meant` does
// not. Then the endpoint must fail closed. Evaluated at every port where an
// entry that applies to either starts or ends.
bool fallback_widens(const EndpointPolicy& ep, Remote meant, Remote got);

EndpointPolicy compile(const LocalEndpoint& ep, const std::vector<NetworkPolicy>& policies,
                       const std::vector<IdentityView>& identities, const std::map<std::string, Namespace>& namespaces,
                       bool audit_all = false);

}  // namespace myelin::policy
