// SPDX-License-Identifier: Apache-2.0
// The LbWriter as a component: `myelin bpf lb list` (what the pinned maps
// hold, named through the FrontendIndex) and the load-balancing metrics
// (frontends by kind, backends by state, map fill, map errors).
#pragma once

#include "component/component.hpp"
#include "myelin.pb.h"
#include "myelin/services/lb_writer.hpp"

namespace myelin::services {

// The maps' content as the API answers it (pure over the dump: unit-testable).
api::LbList lb_list(const LbDump& dump, const FrontendIndex& index, const std::vector<FrontendError>& errors,
                    const LbWriterOptions& opts, bool synced);

class LbComponent : public component::Component {
 public:
  explicit LbComponent(LbWriter& writer) : writer_(writer) {}
  std::string name() const override { return "lb"; }
  Status start() override;
  void routes(server::Router& r) override;
  void collect(metrics::MetricSink& sink) const override;

 private:
  LbWriter& writer_;
};

}  // namespace myelin::services
