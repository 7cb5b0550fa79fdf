// SPDX-License-Identifier: Apache-2.0
// EndpointManager: the one place that turns "a pod's interface exists" into
// datapath state, and back. It keeps the endpoint store, IPAM, identities,
// the endpoint map, the tc attachments and the node's host routes in step,
// rolls back on failure, and on start reconciles what a previous run left
// (pinned maps, attached programs, state files) instead of recreating it.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "myelin.pb.h"
#include "myelin/datapath/datapath.hpp"
#include "myelin/endpoints/endpoint_store.hpp"
#include "myelin/identity/identity_allocator.hpp"
#include "myelin/ipam/ipam.hpp"
#include "myelin/result.hpp"
#include "../metrics/agent_counters.hpp"

namespace myelin::agent {

class EndpointManager {
 public:
  EndpointManager(datapath::Datapath& dp, ipam::Ipam& ipam, endpoints::EndpointStore& store,
                  identity::IdentityAllocator& identities, metrics::AgentCounters& counters);

  // Re-applies every stored endpoint to the datapath (map entry, tc attach by
  // atomic replace, host route) and drops the ones whose interface is gone.
  // Returns how many were restored.
  Result<size_t> restore();

  Result<api::Endpoint> add(const api::Endpoint& request);
  Status remove(const std::string& container_id, const std::string& ifname);
  Result<std::vector<api::Attachment>> gc(const std::vector<api::Attachment>& valid);

  static std::string owner(const std::string& container_id, const std::string& ifname) {
    return container_id + "/" + ifname;
  }
  static std::vector<std::string> identity_labels(const api::Endpoint& ep);

 private:
  Status remove_locked(const api::Endpoint& ep, bool delete_link);
  Result<api::Endpoint> add_locked(const api::Endpoint& request);

  datapath::Datapath& dp_;
  ipam::Ipam& ipam_;
  endpoints::EndpointStore& store_;
  identity::IdentityAllocator& identities_;
  metrics::AgentCounters& counters_;
  std::mutex mu_;  // endpoint changes are serialized: they touch several stores
};

}  // namespace myelin::agent
