// SPDX-License-Identifier: Apache-2.0
// --flow-log as a component: the file opens at start (a bad path stops
// start-up), and its counters are exported.
#pragma once

#include <memory>

#include "component/component.hpp"
#include "flowlog/flow_log.hpp"
#include "metrics/metric_sink.hpp"

namespace myelin::flowlog {

class FlowLogComponent : public component::Component {
 public:
  FlowLogComponent(Options o, flows::FlowStore& store, flows::FilterSet filters)
      : options_(std::move(o)), store_(store), filters_(std::move(filters)) {}
  std::string name() const override { return "flow-log"; }
  Status start() override {
    log_ = std::make_unique<FlowLog>(options_, store_, std::move(filters_));
    if (auto s = log_->start(); !s) return Error{"flow log: " + s.error().message};
    return {};
  }
  void stop() override {
    if (log_) log_->stop();
  }
  void collect(metrics::MetricSink& sink) const override {
    if (!log_) return;
    sink.counter("myelin_flow_log_written_total", "Flows written to the flow log").add({}, static_cast<double>(log_->written()));
    sink.counter("myelin_flow_log_errors_total", "Flows the flow log could not write (full disk, unwritable file)")
        .add({}, static_cast<double>(log_->write_errors()));
    sink.counter("myelin_flow_log_rotations_total", "Flow log rotations").add({}, static_cast<double>(log_->rotations()));
  }

 private:
  Options options_;
  flows::FlowStore& store_;
  flows::FilterSet filters_;
  std::unique_ptr<FlowLog> log_;
};

}  // namespace myelin::flowlog
