// SPDX-License-Identifier: Apache-2.0
// TracingPolicies as a component: the manager (built at start, on top of the
// process probes; off, saying why, without them or tracefs), `tracingpolicy
// list`, and what each action can guarantee on this kernel in `status`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "component/component.hpp"
#include "myelin/endpoints/endpoint_store.hpp"
#include "myelin/pseudo_fs.hpp"
#include "runtime/runtime_components.hpp"
#include "tracing/tracing_manager.hpp"

namespace myelin::tracing {

class TracingComponent : public component::Component {
 public:
  TracingComponent(const runtime::RuntimeComponent& runtime, std::vector<datapath::Feature> probed, const pseudofs::Mounts& mounts,
                   const endpoints::EndpointStore* endpoints, objects::ObjectStore& objects)
      : runtime_(runtime), probed_(std::move(probed)), mounts_(mounts), endpoints_(endpoints), objects_(objects) {}
  std::string name() const override { return "tracing"; }
  Status start() override;  // never stops the agent: TracingPolicies are off, logged why
  void stop() override {
    if (manager_) manager_->stop();
  }
  void routes(server::Router& r) override;
  void collect(metrics::MetricSink& sink) const override;
  void status(component::StatusBuilder& b) const override;
  std::vector<std::string> features() const override { return {"bpf-lsm", "fentry", "fmod_ret", "fmod_ret-syscalls"}; }

  TracingManager* manager() const { return manager_.get(); }

 private:
  const runtime::RuntimeComponent& runtime_;
  std::vector<datapath::Feature> probed_;
  const pseudofs::Mounts& mounts_;
  const endpoints::EndpointStore* endpoints_;
  objects::ObjectStore& objects_;  // its TracingPolicies, followed once the manager started
  std::unique_ptr<TracingManager> manager_;
};

}  // namespace myelin::tracing
