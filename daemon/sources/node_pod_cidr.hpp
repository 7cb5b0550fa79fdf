// SPDX-License-Identifier: Apache-2.0
// --ipam kubernetes: this node's pod CIDR is its Node's spec.podCIDRs (the
// first IPv4 one), as the controller manager allocated it. From the API
// server (GET /api/v1/nodes/<name>, retried until the Node exists and has
// one, bounded) or from the manifests directory (a Node document there).
// main calls it before opening IPAM.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "myelin/kube/config.hpp"
#include "myelin/net.hpp"
#include "myelin/result.hpp"

namespace myelin::sources {

struct PodCidrFrom {
  std::optional<kube::ClusterConfig> api;  // the API server, or
  std::string manifests_dir;               // the manifests directory
};

// Waits up to `timeout` for the Node `node` to have a pod CIDR; `progress`
// hears why it is still waiting (once per distinct reason).
Result<net::Cidr4> node_pod_cidr(const PodCidrFrom& from, const std::string& node, std::chrono::milliseconds timeout,
                                 const std::function<void(const std::string&)>& progress = nullptr);

}  // namespace myelin::sources
