// SPDX-License-Identifier: Apache-2.0
// The flow decoder as the agent wires it: endpoint names, identity labels and
// workloads from the agent's stores, the deciding policy from PolicyManager.
// One function, so the agent and the churn benchmark decode the same way.
#pragma once

#include <string>

#include "myelin/endpoints/endpoint_store.hpp"
#include "myelin/flows/flow_decoder.hpp"
#include "myelin/identity/identity_allocator.hpp"
#include "policy_manager.hpp"

namespace myelin::agent {

flows::FlowDecoder make_flow_decoder(std::string node_name, const endpoints::EndpointStore& store,
                                     const identity::IdentityAllocator& identities, const PolicyManager& policies);

}  // namespace myelin::agent
