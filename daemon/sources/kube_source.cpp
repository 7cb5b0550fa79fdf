// SPDX-License-Identifier: Apache-2.0
#include "sources/kube_source.hpp"

#include <algorithm>

#include "myelin/log.hpp"

namespace myelin::sources {
const std::vector<kube::Resource>& resources() {
  static const std::vector<kube::Resource> r = [] {
    std::vector<kube::Resource> out;
    for (const auto& k : objects::kinds()) out.push_back({k.resource, k.path, k.name, k.api_version});
    return out;
  }();
  return r;
}

std::string source_name(const kube::Resource& r, const nlohmann::json& obj) {
  const auto& m = obj.value("metadata", nlohmann::json::object());
  std::string ns = m.value("namespace", "");
  return "k8s:" + r.name + "/" + (ns.empty() ? "" : ns + "/") + m.value("name", "");
}

void upsert_object(const kube::Resource& r, const nlohmann::json& obj, objects::ObjectStore& store) {
  // JSON is YAML: the same decoders as the manifests, with the same strictness.
  // Lines in their messages count in this pretty-printed form of the object.
  const auto name = source_name(r, obj);
  store.apply(name, objects::decode(obj.dump(2), name));
}

KubeSource::KubeSource(kube::ClusterConfig cluster, objects::ObjectStore& store, EventCounter count, kube::ReflectorOptions options)
    : cluster_(std::move(cluster)), store_(store), store_source_(store.add_source("k8s " + cluster_.server.str())),
      count_(std::move(count)), options_(options) {}

KubeSource::~KubeSource() { stop(); }

void KubeSource::on_upsert(const kube::Resource& r, const nlohmann::json& obj) { upsert_object(r, obj, store_); }

void KubeSource::on_remove(const kube::Resource& r, const nlohmann::json& obj) { store_.remove(source_name(r, obj)); }

void KubeSource::on_synced(size_t index) {
  bool regenerate, first = false;
  {
    std::lock_guard lk(mu_);
    if (state_[index] != 1) {
      state_[index] = 1;
      log::info("k8s", "listed " + resources()[index].name + " from " + cluster_.server.str());
    }
    if (!all_synced_) {
      all_synced_ = std::all_of(state_.begin(), state_.end(), [](int s) { return s != 0; });
      if (all_synced_) log::info("k8s", "every resource listed: computing policy");
      first = all_synced_;
    }
    regenerate = all_synced_;
    cv_.notify_all();
  }
  if (first) store_.synced(store_source_);
  if (regenerate) store_.changed();
}

void KubeSource::on_error(size_t index, const std::string& message) {
  std::unique_lock lk(mu_);
  if (message.find("(is the CRD installed?)") != std::string::npos && state_[index] == 0) {
    // Cilium's CRDs are optional: without them there is nothing to list.
    state_[index] = 2;
    last_error_[index] = message;  // the retries say the same: not logged again
    log::warn("k8s", message + "; retrying in the background, no " + resources()[index].name + " until then");
    bool now_synced = !all_synced_ && std::all_of(state_.begin(), state_.end(), [](int s) { return s != 0; });
    if (now_synced) {
      all_synced_ = true;
      log::info("k8s", "every served resource listed: computing policy");
    }
    cv_.notify_all();
    lk.unlock();
    if (now_synced) {
      store_.synced(store_source_);
      store_.changed();
    }
    return;
  }
  if (last_error_[index] != message) log::warn("k8s", message + " (retrying with backoff)");
  last_error_[index] = message;
  cv_.notify_all();
}

Status KubeSource::start(std::chrono::seconds initial_sync) {
  state_.assign(resources().size(), 0);
  last_error_.assign(resources().size(), "");
  for (size_t i = 0; i < resources().size(); ++i) {
    const auto& r = resources()[i];
    kube::Reflector::Handler h{
        [this, &r](const nlohmann::json& o) { on_upsert(r, o); },
        [this, &r](const nlohmann::json& o) { on_remove(r, o); },
        [this, i] { on_synced(i); },
        [this, &r](const std::string& action) {
          if (count_) count_(r.name, action);
        },
        [this, i](const std::string& m) { on_error(i, m); },
    };
    reflectors_.push_back(std::make_unique<kube::Reflector>(cluster_, r, std::move(h), options_));
  }
  log::info("k8s", "watching the API server at " + cluster_.server.str() + " (" + cluster_.origin + ")");
  for (auto& r : reflectors_) r->start();
  std::unique_lock lk(mu_);
  if (cv_.wait_for(lk, initial_sync, [this] { return all_synced_; })) return {};
  std::string missing, why;
  for (size_t i = 0; i < state_.size(); ++i)
    if (state_[i] == 0) {
      missing += (missing.empty() ? "" : ", ") + resources()[i].name;
      if (why.empty()) why = last_error_[i];
    }
  return Error{"could not list " + missing + " within " + std::to_string(initial_sync.count()) + " s" +
               (why.empty() ? "" : ": " + why)};
}

void KubeSource::stop() {
  for (auto& r : reflectors_) r->stop();
}

}  // namespace myelin::sources
