// SPDX-License-Identifier: Apache-2.0
// The object sources as components: the manifests directory (loaded whole at
// start, then watched) and the Kubernetes API (listed at start, up to the
// sync timeout, then watched). Last in the list: they feed the others.
#pragma once

#include <chrono>
#include <memory>

#include "component/component.hpp"
#include "myelin/log.hpp"
#include "sources/kube_source.hpp"
#include "sources/manifest_source.hpp"

namespace myelin::sources {

class ManifestsComponent : public component::Component {
 public:
  // Registers with the store now, before any source starts (see ObjectStore::add_source).
  ManifestsComponent(std::string dir, objects::ObjectStore& store, ManifestSource::Limits limits)
      : source_(std::move(dir), store, limits) {}
  std::string name() const override { return "manifests"; }
  Status start() override { return source_.start(); }
  void stop() override { source_.stop(); }

 private:
  ManifestSource source_;
};

class KubeComponent : public component::Component {
 public:
  KubeComponent(kube::ClusterConfig cluster, objects::ObjectStore& store, KubeSource::EventCounter count, std::chrono::seconds sync_timeout)
      : source_(std::move(cluster), store, std::move(count)), sync_timeout_(sync_timeout) {}
  std::string name() const override { return "k8s"; }
  // Until every resource is listed, restored endpoints keep the policy they had.
  Status start() override {
    if (auto s = source_.start(sync_timeout_); !s)
      log::warn("k8s", s.error().message + "; serving anyway, endpoints keep their last policy until the lists complete");
    return {};
  }
  void stop() override { source_.stop(); }

 private:
  KubeSource source_;
  std::chrono::seconds sync_timeout_;
};

}  // namespace myelin::sources
