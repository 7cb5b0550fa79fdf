// SPDX-License-Identifier: Apache-2.0
// daemon/agent (myelin_agent): the node agent over the datapath: endpoints, PolicyManager and its PolicySnapshot, conntrack GC, the event pump, refusals, each as a component.
// EndpointManager: the one place that turns "a pod's interface exists" into
// datapath state, and back. It keeps the endpoint store, IPAM, identities,
// the endpoint map, the tc attachments and the node's host routes in step,
// rolls back on failure, and on start reconciles what a previous run left
// (pinned maps, attached programs, state files) instead of recreating it.
#pragma once

#include <functional>
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
                  identity::Identities& identities, metrics::AgentCounters& counters);

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

  // Where a pod's identity labels come from (the Pod and Namespace objects);
  // without one, an endpoint is identified by its namespace alone.
  using LabelSource = std::function<std::vector<std::string>(const std::string& ns, const std::string& pod)>;
  void set_label_source(LabelSource s);
  // Called after endpoints were added, removed or restored, outside this
  // class's lock (PolicyManager publishes them to the flow path).
  void set_on_change(std::function<void()> f) { on_change_ = std::move(f); }
  // Re-identifies endpoints whose labels changed; returns how many changed.
  Result<size_t> relabel_all();
  // Policy flags (MYELIN_EP_F_*ENFORCED, AUDIT, POLICY_FAILED) of an endpoint's map entry.
  Status set_policy_flags(uint32_t ep_id, uint32_t flags, bool policy_changed = false);

 private:
  Status remove_locked(const api::Endpoint& ep, bool delete_link);
  Result<api::Endpoint> add_locked(const api::Endpoint& request);

  datapath::Datapath& dp_;
  ipam::Ipam& ipam_;
  endpoints::EndpointStore& store_;
  identity::Identities& identities_;
  metrics::AgentCounters& counters_;
  std::vector<std::string> labels_for(const api::Endpoint& ep) const;
  LabelSource label_source_;
  std::function<void()> on_change_;
  // Declared before the lock, so it runs after the lock is released.
  struct Changed {
    const std::function<void()>& f;
    ~Changed() {
      if (f) f();
    }
  };
  std::mutex mu_;  // endpoint changes are serialized: they touch several stores
};

}  // namespace myelin::agent
