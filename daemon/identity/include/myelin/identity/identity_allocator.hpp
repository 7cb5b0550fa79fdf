// SPDX-License-Identifier: Apache-2.0
// daemon/identity (myelin_identity): security identities, one per set of labels, kept in the state dir.
// IdentityAllocator: numeric security identities, one per distinct set of
// identity-relevant labels, reference counted and persisted. Reserved
// identities (host, world, ...) have fixed numbers, as in Cilium.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "myelin/abi/net.h"
#include "myelin/result.hpp"

namespace myelin::identity {

enum Reserved : uint32_t {
  kHost = MYELIN_IDENTITY_HOST, kWorld = MYELIN_IDENTITY_WORLD, kUnmanaged = MYELIN_IDENTITY_UNMANAGED,
  kHealth = MYELIN_IDENTITY_HEALTH, kInit = MYELIN_IDENTITY_INIT, kRemoteNode = MYELIN_IDENTITY_REMOTE_NODE,
  kKubeApiserver = MYELIN_IDENTITY_KUBE_APISERVER
};
inline constexpr uint32_t kFirstAllocated = 256;

class IdentityAllocator {
 public:
  static Result<std::unique_ptr<IdentityAllocator>> open(const std::string& state_file);
  Result<uint32_t> acquire(const std::vector<std::string>& labels);
  Status release(uint32_t id);
  std::optional<std::vector<std::string>> labels(uint32_t id) const;
  std::map<uint32_t, std::vector<std::string>> list() const;  // allocated ones
  static std::string reserved_name(uint32_t id);

 private:
  explicit IdentityAllocator(std::string file) : file_(std::move(file)) {}
  Status save() const;
  struct Entry {
    std::vector<std::string> labels;  // sorted
    uint32_t refs = 0;
  };
  std::string file_;
  mutable std::mutex mu_;
  std::map<uint32_t, Entry> by_id_;
  std::map<std::vector<std::string>, uint32_t> by_labels_;
  uint32_t next_ = kFirstAllocated;
};

}  // namespace myelin::identity
