// SPDX-License-Identifier: Apache-2.0
// PodIndex: which pod (and container) a process belongs to.
// - By cgroup, where a container runtime made one: the process's cgroup is
//   named after its container, and beside it sits the pod sandbox's cgroup,
//   named after the id the runtime gave the CNI plugin (the endpoint's
//   container id). This attributes a process even outside the pod's network
//   namespace (hostNetwork pods, a container entered with nsenter).
// - Else by network namespace: every endpoint was added with its netns path
//   (CNI_NETNS); the inode of that path is the namespace's id, the same
//   number the process probes read from the task.
// Looked up on every process event: the index is rebuilt only when the
// endpoint store changed (its generation), so the host's processes (always
// a miss) cost map lookups; a pod is known from its first exec because its
// endpoint is stored before its processes start.
#pragma once

#include <sys/stat.h>

#include <map>
#include <mutex>
#include <optional>

#include "cgroup_index.hpp"
#include "myelin/endpoints/endpoint_store.hpp"
#include "process_cache.hpp"

namespace myelin::runtime {

class PodIndex {
 public:
  explicit PodIndex(std::string cgroup_root = CgroupIndex::cgroup2_mount()) : cgroups_(std::move(cgroup_root)) {}
  std::optional<PodRef> lookup(const endpoints::EndpointStore& store, uint32_t netns, uint64_t cgroup_id = 0) {
    std::optional<ContainerCgroup> container = cgroups_.lookup(cgroup_id);
    std::lock_guard lk(mu_);
    if (auto gen = store.generation(); gen != generation_) {
      rebuild(store);
      generation_ = gen;
    }
    if (container) {
      auto pod = by_sandbox_.find(container->container_id);  // the sandbox's own processes (pause)
      for (size_t i = 0; pod == by_sandbox_.end() && i < container->pod_containers.size(); ++i)
        pod = by_sandbox_.find(container->pod_containers[i]);
      if (pod != by_sandbox_.end()) {
        PodRef r = pod->second;
        r.container_id = container->container_id;
        return r;
      }
    }
    if (auto it = by_netns_.find(netns); it != by_netns_.end()) return it->second;
    return std::nullopt;
  }

 private:
  void rebuild(const endpoints::EndpointStore& store) {
    std::map<uint32_t, uint32_t> seen;  // endpoint id -> inode
    by_netns_.clear();
    by_sandbox_.clear();
    for (const auto& ep : store.list()) {
      PodRef ref{ep.pod_namespace(), ep.pod_name(), ep.id(), ""};
      if (!ep.container_id().empty()) by_sandbox_[ep.container_id()] = ref;
      auto known = inode_.find(ep.id());
      uint32_t ino = 0;
      if (known != inode_.end()) {
        ino = known->second;
      } else {
        struct stat st {};
        if (ep.netns().empty() || stat(ep.netns().c_str(), &st) != 0) continue;
        ino = static_cast<uint32_t>(st.st_ino);
      }
      seen[ep.id()] = ino;
      by_netns_[ino] = ref;
    }
    inode_ = std::move(seen);
  }

  CgroupIndex cgroups_;
  std::mutex mu_;
  uint64_t generation_ = ~0ull;
  std::map<uint32_t, PodRef> by_netns_;
  std::map<std::string, PodRef> by_sandbox_;  // the endpoint's container id (the pod sandbox) -> pod
  std::map<uint32_t, uint32_t> inode_;
};

}  // namespace myelin::runtime
