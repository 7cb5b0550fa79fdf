// SPDX-License-Identifier: Apache-2.0
// daemon/metrics (myelin_metrics, myelin_metrics_exporter): the MetricSink components collect into, the Prometheus endpoint, the agent's own counters.
// MetricsExporter: Prometheus metrics at --metrics-addr (/metrics). Values are
// read when scraped: each component collects its own families into a fresh
// MetricSink (datapath counters summed over CPUs from the per-CPU BPF maps at
// that moment), so nothing is cached or double-counted. The exporter knows no
// component: it is given what to collect.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <functional>
#include <memory>
#include <string>

#include "component/component.hpp"
#include "metric_sink.hpp"

namespace myelin::metrics {

using CollectFn = std::function<void(MetricSink&)>;

// Builds every metric family (also used by tests).
class Collector : public prometheus::Collectable {
 public:
  explicit Collector(CollectFn collect) : collect_(std::move(collect)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  CollectFn collect_;
};

class MetricsExporter : public component::Component {
 public:
  // addr like ":9962" or "127.0.0.1:9962"; an empty addr disables the exporter.
  MetricsExporter(std::string addr, CollectFn collect) : addr_(std::move(addr)), collect_(std::move(collect)) {}
  std::string name() const override { return "metrics"; }
  Status start() override;
  void stop() override;
  std::vector<int> ports() const;

 private:
  std::string addr_;
  CollectFn collect_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<Collector> collector_;
};

}  // namespace myelin::metrics
