// SPDX-License-Identifier: Apache-2.0
#include "exporter.hpp"

#include "myelin/log.hpp"

namespace myelin::metrics {

std::vector<prometheus::MetricFamily> Collector::Collect() const {
  MetricSink sink;
  collect_(sink);
  for (const auto& c : sink.conflicts()) log::error("metrics", c);
  return sink.take();
}

Status MetricsExporter::start() {
  if (addr_.empty()) return {};
  std::string bind = addr_;
  if (bind[0] == ':') bind = "0.0.0.0" + bind;
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(bind, 2);
  } catch (const std::exception& ex) {
    return Error{"cannot serve metrics on " + addr_ + ": " + ex.what()};
  }
  collector_ = std::make_shared<Collector>(collect_);
  exposer_->RegisterCollectable(collector_);
  log::info("metrics", "serving Prometheus metrics on " + addr_ + "/metrics");
  return {};
}

// No scrape runs after this: the components it reads may go next.
void MetricsExporter::stop() {
  if (exposer_ && collector_) exposer_->RemoveCollectable(collector_);
  exposer_.reset();
}

std::vector<int> MetricsExporter::ports() const { return exposer_ ? exposer_->GetListeningPorts() : std::vector<int>{}; }

}  // namespace myelin::metrics
