// SPDX-License-Identifier: Apache-2.0
// ScopedIdentities: a cluster's identities as policy and endpoints see them.
// Pods' label sets go to the cluster's source (the same number on every
// node, below 2^24: they travel in the VNI); CIDR identities of policy
// ("cidr:" labels) never leave the node and come from a local allocator
// numbered from kFirstLocalIdentity, as Cilium's local scope.
#pragma once

#include "myelin/identity/identity_allocator.hpp"

namespace myelin::identity {

bool local_scope(const std::vector<std::string>& labels);

class ScopedIdentities : public Identities {
 public:
  ScopedIdentities(Identities& cluster, Identities& local) : cluster_(cluster), local_(local) {}
  Result<uint32_t> acquire(const std::vector<std::string>& labels) override;
  Status release(uint32_t id) override;
  std::optional<std::vector<std::string>> labels(uint32_t id) const override;
  std::map<uint32_t, std::vector<std::string>> list() const override;
  void on_change(std::function<void()> fn) override { cluster_.on_change(std::move(fn)); }

 private:
  Identities& cluster_;
  Identities& local_;
};

}  // namespace myelin::identity
