// SPDX-License-Identifier: Apache-2.0
// NetworkPolicy, CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy,
// Namespace and Pod YAML (manifests, and the API server's JSON, which is
// YAML): decoded, then compiled for every pod of the input as the agent does.
// Invariants: an error names the file and is UTF-8; the compiled entries are sorted,
// unique, name a policy that selects the endpoint, and hold ranges lo <= hi.
#include <cstdint>
#include <map>

#include "fuzz_check.hpp"
#include "myelin/abi/net.h"
#include "myelin/policy/compiler.hpp"
#include "myelin/policy/decode.hpp"

using namespace myelin::policy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto objects = decode_yaml(text, "fuzz.yaml");
  if (!objects) {
    FUZZ_CHECK(starts_with(objects.error().message, "fuzz.yaml:"), objects.error().message);
    FUZZ_CHECK(is_utf8(objects.error().message), "a refusal the API cannot carry: " + objects.error().message);
    return 0;
  }
  std::vector<NetworkPolicy> policies;
  std::map<std::string, Namespace> namespaces;
  std::vector<Pod> pods;
  for (auto& o : *objects) {
    if (auto* p = std::get_if<NetworkPolicy>(&o)) policies.push_back(*p);
    if (auto* n = std::get_if<Namespace>(&o)) namespaces[n->name] = *n;
    if (auto* p = std::get_if<Pod>(&o)) pods.push_back(*p);
  }
  if (policies.empty()) return 0;

  // Identities as the policy manager makes them: one per pod, one per referenced CIDR, the reserved ones.
  std::vector<IdentityView> ids;
  uint32_t next = 256;
  for (const auto& p : pods) {
    IdentityView v;
    v.id = next++;
    v.ns = p.ns;
    v.labels = p.labels;
    if (auto n = namespaces.find(p.ns); n != namespaces.end()) v.ns_labels = n->second.labels;
    v.ports = p.ports;
    ids.push_back(v);
  }
  for (const auto& c : referenced_cidrs(policies)) {
    IdentityView v;
    v.id = next++;
    v.kind = IdentityView::Kind::cidr;
    v.cidrs.insert(c);
    ids.push_back(v);
  }
  for (const char* r : {"host", "world", "remote-node"}) {
    IdentityView v;
    v.id = next++;
    v.kind = IdentityView::Kind::reserved;
    v.reserved = r;
    ids.push_back(v);
  }

  for (size_t i = 0; i < pods.size(); ++i) {  // pod i has identity ids[i]
    const Pod& p = pods[i];
    LocalEndpoint ep{static_cast<uint32_t>(i + 1), ids[i].id, p.ns, p.labels, p.ports};
    EndpointPolicy out = compile(ep, policies, ids, namespaces);
    for (size_t j = 0; j < out.entries.size(); ++j) {
      const Entry& e = out.entries[j];
      FUZZ_CHECK(j == 0 || out.entries[j - 1] < e, "entries are not sorted and unique");
      FUZZ_CHECK(e.lo <= e.hi, "an empty port range " + std::to_string(e.lo) + "-" + std::to_string(e.hi) + " from " +
                                   policies[e.policy - 1].source);
      FUZZ_CHECK(e.dir == MYELIN_DIR_INGRESS || e.dir == MYELIN_DIR_EGRESS, "entry without a direction");
      FUZZ_CHECK(e.policy >= 1 && e.policy <= policies.size(), "entry names no policy");
      bool selected = false;
      for (uint32_t s : out.selected_by) selected = selected || s == e.policy;
      FUZZ_CHECK(selected, "entry of a policy that does not select the endpoint");
      // What the datapath decides for the entry's own first packet.
      const Decision d = evaluate(out, e.dir, e.identity, e.proto, e.lo);
      FUZZ_CHECK(e.deny ? d.kind == Decision::Kind::denied_by_rule : d.entry != nullptr, "an entry does not decide its own packet");
    }
    for (uint32_t s : out.selected_by) {
      const NetworkPolicy& p = policies[s - 1];
      if (p.ingress_type) FUZZ_CHECK(out.ingress_enforced, "a policy selects the endpoint for ingress, which is not enforced");
      if (p.egress_type) FUZZ_CHECK(out.egress_enforced, "a policy selects the endpoint for egress, which is not enforced");
    }
  }
  return 0;
}
