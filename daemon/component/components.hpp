// SPDX-License-Identifier: Apache-2.0
// Components: the agent's parts in start order, owned here. Started in
// order (the first error stops start-up), stopped and destroyed in reverse,
// asked in order for their routes, metrics and status.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "component.hpp"
#include "myelin.pb.h"
#include "myelin/datapath/datapath.hpp"

namespace myelin::component {

class Components {
 public:
  explicit Components(std::vector<datapath::Feature> probed = {}) : probed_(std::move(probed)) {}
  ~Components();
  Components(const Components&) = delete;
  Components& operator=(const Components&) = delete;

  template <class T, class... Args>
  T& add(Args&&... args) {
    auto c = std::make_unique<T>(std::forward<Args>(args)...);
    T& ref = *c;
    add(std::move(c));
    return ref;
  }
  void add(std::unique_ptr<Component> c);

  // Every feature a component declares must be one the probe reports.
  Status check_features() const;
  Status start();
  void stop();
  void routes(server::Router& router);
  void collect(metrics::MetricSink& sink) const;
  void status(api::StatusResponse& out) const;
  const std::vector<datapath::Feature>& probed() const { return probed_; }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::unique_ptr<Component> component;
    bool started = false;
  };
  std::vector<datapath::Feature> probed_;
  std::vector<Entry> entries_;
};

}  // namespace myelin::component
