// SPDX-License-Identifier: Apache-2.0
// NetnsIndex: which pod a network namespace belongs to. Every endpoint was
// added with its netns path (CNI_NETNS); the inode of that path is the
// namespace's id, the same number the process probes read from the task.
// Looked up on every process event: the index is rebuilt only when the
// endpoint store changed (its generation), so the host's processes (always
// a miss) cost one map lookup; a pod is known from its first exec because
// its endpoint is stored before its processes start.
#pragma once

#include <sys/stat.h>

#include <map>
#include <mutex>
#include <optional>

#include "myelin/endpoints/endpoint_store.hpp"
#include "process_cache.hpp"

namespace myelin::runtime {

class NetnsIndex {
 public:
  std::optional<PodRef> lookup(const endpoints::EndpointStore& store, uint32_t netns) {
    std::lock_guard lk(mu_);
    if (auto gen = store.generation(); gen != generation_) {
      rebuild(store);
      generation_ = gen;
    }
    if (auto it = by_netns_.find(netns); it != by_netns_.end()) return it->second;
    return std::nullopt;
  }

 private:
  void rebuild(const endpoints::EndpointStore& store) {
    std::map<uint32_t, uint32_t> seen;  // endpoint id -> inode
    by_netns_.clear();
    for (const auto& ep : store.list()) {
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
      by_netns_[ino] = PodRef{ep.pod_namespace(), ep.pod_name(), ep.id()};
    }
    inode_ = std::move(seen);
  }

  std::mutex mu_;
  uint64_t generation_ = ~0ull;
  std::map<uint32_t, PodRef> by_netns_;
  std::map<uint32_t, uint32_t> inode_;
};

}  // namespace myelin::runtime
