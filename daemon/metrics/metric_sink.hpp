// SPDX-License-Identifier: Apache-2.0
// MetricSink: where components put their metrics at scrape time. A family is
// created by its first use; a later use of the same name adds samples to it
// (the lost-events families take samples from several components), and must
// agree on help and type: a disagreement is kept out and reported.
#pragma once

#include <prometheus/metric_family.h>

#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace myelin::metrics {

using Labels = std::vector<prometheus::ClientMetric::Label>;

class MetricSink;

class Family {
 public:
  Family& add(Labels labels, double value);
  // Upper bounds and non-cumulative counts per bucket; `count` also fills +Inf.
  Family& add_histogram(Labels labels, const std::vector<double>& bounds, const std::vector<uint64_t>& counts,
                        uint64_t count, double sum);

 private:
  friend class MetricSink;
  explicit Family(prometheus::MetricFamily* f) : f_(f) {}
  prometheus::MetricFamily* f_;  // null: refused (help or type disagree); samples are dropped
};

class MetricSink {
 public:
  Family counter(const std::string& name, const std::string& help) { return family(name, help, prometheus::MetricType::Counter); }
  Family gauge(const std::string& name, const std::string& help) { return family(name, help, prometheus::MetricType::Gauge); }
  Family histogram(const std::string& name, const std::string& help) {
    return family(name, help, prometheus::MetricType::Histogram);
  }

  // In the order of first use.
  std::vector<prometheus::MetricFamily> take();
  // "name: ..." for each use that disagreed with the family's first use.
  const std::vector<std::string>& conflicts() const { return conflicts_; }

 private:
  Family family(const std::string& name, const std::string& help, prometheus::MetricType type);
  std::deque<prometheus::MetricFamily> families_;  // deque: references stay valid as it grows
  std::map<std::string, size_t> index_;
  std::vector<std::string> conflicts_;
};

}  // namespace myelin::metrics
