// SPDX-License-Identifier: Apache-2.0
#include "flow_view.hpp"

#include <net/if.h>

namespace myelin::agent {

flows::FlowDecoder make_flow_decoder(std::string node_name, const PolicyManager& policies) {
  return flows::FlowDecoder(
      std::move(node_name), [&policies] { return std::shared_ptr<const flows::FlowView>(policies.snapshot()); },
      [](uint32_t ifindex) {
        char name[IF_NAMESIZE] = {};
        return std::string(if_indextoname(ifindex, name) ? name : "");
      });
}

}  // namespace myelin::agent
