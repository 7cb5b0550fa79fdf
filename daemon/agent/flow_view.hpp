// SPDX-License-Identifier: Apache-2.0
// The flow decoder as the agent wires it: endpoint names, identity labels,
// workloads and the deciding policy from PolicyManager's snapshot (one per
// flow, taken without a lock), interface names from the kernel. One
// function, so the agent and the churn benchmark decode the same way.
#pragma once

#include <string>

#include "myelin/flows/flow_decoder.hpp"
#include "policy_manager.hpp"

namespace myelin::agent {

flows::FlowDecoder make_flow_decoder(std::string node_name, const PolicyManager& policies);

}  // namespace myelin::agent
