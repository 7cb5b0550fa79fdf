// SPDX-License-Identifier: Apache-2.0
// KubeSource: the same Kubernetes objects as ManifestSource, from the API
// server. One reflector per kind the object store keeps (objects::kinds():
// namespaces, pods, the policy kinds, services, endpointslices, nodes,
// tracingpolicies[namespaced]) feeds the store; each object is a source
// named "k8s:<resource>/<ns>/<name>". The store hears "changed" (policy is
// computed) and "synced" only once every resource has been listed (or found
// not served): a half-synced cache must never replace enforced policy with less.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "myelin/kube/reflector.hpp"
#include "myelin/objects/object_store.hpp"
#include "myelin/result.hpp"

namespace myelin::sources {

// The resources listed and watched: one per kind of objects::kinds().
const std::vector<kube::Resource>& resources();
// What KubeSource does with one object listed, added or modified (decoded
// by the reflector): into the store, as a source of its own. Apart from the
// class so the fuzzer (tests/fuzz) runs it without an API server.
void upsert_object(const kube::Resource& r, const nlohmann::json& obj, objects::ObjectStore& store);
// "k8s:<resource>/<namespace>/<name>", the source an object's policy comes from.
std::string source_name(const kube::Resource& r, const nlohmann::json& obj);

class KubeSource {
 public:
  using EventCounter = std::function<void(const std::string& resource, const std::string& action)>;

  KubeSource(kube::ClusterConfig cluster, objects::ObjectStore& store, EventCounter count, kube::ReflectorOptions options = {});
  ~KubeSource();
  KubeSource(const KubeSource&) = delete;
  KubeSource& operator=(const KubeSource&) = delete;

  // Starts every reflector and waits up to `initial_sync` for all of them to
  // list once; returns an error naming those that did not (they keep trying).
  Status start(std::chrono::seconds initial_sync);
  void stop();

 private:
  void on_upsert(const kube::Resource& r, const nlohmann::json& obj);
  void on_remove(const kube::Resource& r, const nlohmann::json& obj);
  void on_synced(size_t index);
  void on_error(size_t index, const std::string& message);

  kube::ClusterConfig cluster_;
  objects::ObjectStore& store_;
  size_t store_source_ = 0;
  EventCounter count_;
  kube::ReflectorOptions options_;
  std::vector<std::unique_ptr<kube::Reflector>> reflectors_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> state_;                 // per reflector: 0 waiting, 1 listed, 2 not served (404)
  std::vector<std::string> last_error_;    // logged once until it changes
  bool all_synced_ = false;
};

}  // namespace myelin::sources
