// SPDX-License-Identifier: Apache-2.0
#include "flow_view.hpp"

#include <net/if.h>

namespace myelin::agent {

flows::FlowDecoder make_flow_decoder(std::string node_name, const endpoints::EndpointStore& store,
                                     const identity::IdentityAllocator& identities, const PolicyManager& policies) {
  return flows::FlowDecoder(
      std::move(node_name),
      [&store, &identities, &policies](uint32_t id) -> std::optional<flows::FlowDecoder::EndpointView> {
        auto ep = store.get_by_id(id);
        if (!ep) return std::nullopt;
        flows::FlowDecoder::EndpointView v;
        v.id = ep->id();
        v.identity = ep->identity();
        v.ns = ep->pod_namespace();
        v.pod_name = ep->pod_name();
        if (auto labels = identities.labels(ep->identity())) v.labels = *labels;
        for (const auto& w : policies.workloads(v.ns.empty() ? "default" : v.ns, v.pod_name)) v.workloads.emplace_back(w.kind, w.name);
        return v;
      },
      [](uint32_t ifindex) {
        char name[IF_NAMESIZE] = {};
        return std::string(if_indextoname(ifindex, name) ? name : "");
      },
      [&policies](const myelin_flow_event& ev, flow::Flow& f) { annotate_policy(policies, ev, f); });
}

}  // namespace myelin::agent
