// SPDX-License-Identifier: Apache-2.0
// daemon/identity (myelin_identity): security identities, one per set of labels, kept in the state dir.
// IdentityAllocator: numeric security identities, one per distinct set of
// identity-relevant labels, reference counted and persisted. Reserved
// identities (host, world, ...) have fixed numbers, as in Cilium.
#pragma once

#include <functional>
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
// Cluster identities travel in the VXLAN VNI: 24 bits. Identities only this
// node knows (CIDR identities of policy, in a cluster) are numbered from
// here, as Cilium's local scope.
inline constexpr uint32_t kLastClusterIdentity = (1u << 24) - 1;
inline constexpr uint32_t kFirstLocalIdentity = 1u << 24;

// Where security identities come from: this node alone (IdentityAllocator,
// a state file), or the cluster (etcd, the Kubernetes API), where the same
// labels get the same number on every node. acquire/release count this
// node's references; list() is every identity the source knows (in a
// cluster, other nodes' too), which policy selects from.
class Identities {
 public:
  virtual ~Identities() = default;
  virtual Result<uint32_t> acquire(const std::vector<std::string>& labels) = 0;
  virtual Status release(uint32_t id) = 0;
  virtual std::optional<std::vector<std::string>> labels(uint32_t id) const = 0;
  virtual std::map<uint32_t, std::vector<std::string>> list() const = 0;
  // Called (from any thread, never under a lock of the caller's) when list()
  // changed for another reason than this node's acquire/release: another
  // node's identity appeared or went. One callback; a second replaces it.
  virtual void on_change(std::function<void()> fn) { (void)fn; }
  static std::string reserved_name(uint32_t id);
};

// This node's identities, kept in its state dir: numbers from `first` up.
class IdentityAllocator : public Identities {
 public:
  static Result<std::unique_ptr<IdentityAllocator>> open(const std::string& state_file, uint32_t first = kFirstAllocated);
  Result<uint32_t> acquire(const std::vector<std::string>& labels) override;
  Status release(uint32_t id) override;
  std::optional<std::vector<std::string>> labels(uint32_t id) const override;
  std::map<uint32_t, std::vector<std::string>> list() const override;  // allocated ones

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
  uint32_t last_ = kLastClusterIdentity;  // exclusive
};

}  // namespace myelin::identity
