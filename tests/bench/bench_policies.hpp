// SPDX-License-Identifier: Apache-2.0
// The cluster the policy benchmarks compute over (policy_bench, flow_churn_bench):
// 50 namespaces, 10 apps, and policy i allowing ingress to app (i % 10) of
// namespace (i % 50) from the next app of its namespace and from team
// t(i % 5) namespaces' frontends, on a numbered port, a named port and a UDP range.
#pragma once

#include <cstdint>
#include <string>

#include "myelin/policy/model.hpp"

namespace myelin::bench {

constexpr int kNamespaces = 50, kApps = 10;

inline policy::NetworkPolicy make_policy(int i, uint16_t port, const std::string& name) {
  policy::NetworkPolicy p;
  p.kind = "NetworkPolicy";
  p.ns = "ns-" + std::to_string(i % kNamespaces);
  p.name = name;
  p.source = name + ".yaml";
  p.subject.match_labels = {{"app", "app-" + std::to_string(i % kApps)}};
  p.ingress_type = true;
  policy::Rule r;
  policy::Peer same_ns, teams;
  same_ns.pods = policy::Selector{{{"app", "app-" + std::to_string((i + 1) % kApps)}}, {}};
  teams.namespaces = policy::Selector{{{"team", "t" + std::to_string(i % 5)}}, {}};
  teams.pods = policy::Selector{{{"tier", "frontend"}}, {}};
  r.peers = {same_ns, teams};
  r.ports = {{6, port, 0, ""}, {6, 0, 0, "http"}, {17, 5000, 5099, ""}};
  p.ingress.push_back(r);
  return p;
}

}  // namespace myelin::bench
