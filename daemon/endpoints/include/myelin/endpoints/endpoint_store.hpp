// SPDX-License-Identifier: Apache-2.0
// daemon/endpoints (myelin_endpoints): the record of each pod interface the agent programmed, kept in the state dir.
// EndpointStore: the agent's record of each pod interface it programmed,
// keyed by "<container id>/<ifname>", persisted so a restarted agent knows
// what it owns. Ids are unique, never 0, and never reused.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "myelin.pb.h"
#include "myelin/result.hpp"

namespace myelin::endpoints {

class EndpointStore {
 public:
  static Result<std::unique_ptr<EndpointStore>> open(const std::string& state_file);
  uint32_t next_id();
  Status upsert(const api::Endpoint& ep);
  // Several at once, saved once: a restarted agent re-adopting all of its
  // endpoints would otherwise rewrite and fsync the whole file per endpoint
  // (quadratic; 20-60 s for 1,000 endpoints on a busy disk). All or nothing:
  // a failed save leaves the store as it was.
  Status upsert_all(const std::vector<api::Endpoint>& eps);
  Status remove(const std::string& container_id, const std::string& ifname);
  std::optional<api::Endpoint> get(const std::string& container_id, const std::string& ifname) const;
  std::optional<api::Endpoint> get_by_id(uint32_t id) const;
  std::optional<api::Endpoint> get_by_ip(const std::string& ip) const;
  std::optional<api::Endpoint> get_by_ifindex(uint32_t host_ifindex) const;
  std::vector<api::Endpoint> list() const;  // by id
  // Bumped by every change: readers that cache a view of the store (the
  // runtime's netns index) rebuild only when it moved.
  uint64_t generation() const { return generation_; }

 private:
  explicit EndpointStore(std::string file) : file_(std::move(file)) {}
  Status save() const;
  template <typename Pred>
  std::optional<api::Endpoint> find(Pred p) const;

  std::string file_;
  mutable std::mutex mu_;
  std::map<std::string, api::Endpoint> eps_;
  std::map<uint32_t, std::string> by_id_;  // the per-event lookup (flow decoding) stays O(log n)
  uint32_t next_id_ = 1;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace myelin::endpoints
