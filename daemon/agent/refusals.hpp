// SPDX-License-Identifier: Apache-2.0
// Every policy the agent refused, network and tracing, from the manifests
// directory and the Kubernetes API, in one list for `status` and the
// myelin_policy_refused metric (the list commands show their own kinds).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "myelin.pb.h"
#include "myelin/policy/refusal.hpp"

namespace myelin::tracing {
class TracingManager;
}

namespace myelin::agent {

class PolicyManager;

// Sources the network decoder refused, then TracingPolicy files refused and
// TracingPolicies this kernel rejected. A text both decoders refused the same
// way (a YAML syntax error, a document without kind: its kind is unknown) is
// listed once.
std::vector<policy::Refusal> refused_policies(const PolicyManager& policies, const tracing::TracingManager* tracing);

// How many, by (kind, cause): the kind of the document refused or "unknown";
// every policy kind and cause is there, at 0 when none is refused.
std::map<std::pair<std::string, std::string>, uint64_t> count_refused(const std::vector<policy::Refusal>& refused);

void to_proto(const policy::Refusal& r, api::PolicyError* out);

}  // namespace myelin::agent
