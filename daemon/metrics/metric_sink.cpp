// SPDX-License-Identifier: Apache-2.0
#include "metric_sink.hpp"

#include <limits>

namespace myelin::metrics {

Family& Family::add(Labels labels, double value) {
  if (!f_) return *this;
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (f_->type == prometheus::MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  f_->metric.push_back(std::move(m));
  return *this;
}

Family& Family::add_histogram(Labels labels, const std::vector<double>& bounds, const std::vector<uint64_t>& counts,
                              uint64_t count, double sum) {
  if (!f_) return *this;
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cumulative += i < counts.size() ? counts[i] : 0;
    m.histogram.bucket.push_back({cumulative, bounds[i]});
  }
  m.histogram.bucket.push_back({count, std::numeric_limits<double>::infinity()});
  m.histogram.sample_count = count;
  m.histogram.sample_sum = sum;
  f_->metric.push_back(std::move(m));
  return *this;
}

Family MetricSink::family(const std::string& name, const std::string& help, prometheus::MetricType type) {
  auto it = index_.find(name);
  if (it == index_.end()) {
    prometheus::MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = type;
    families_.push_back(std::move(f));
    index_.emplace(name, families_.size() - 1);
    return Family(&families_.back());
  }
  auto& f = families_[it->second];
  if (f.help != help || f.type != type) {
    conflicts_.push_back(name + ": used again with another " + (f.type != type ? "type" : "help text"));
    return Family(nullptr);
  }
  return Family(&f);
}

std::vector<prometheus::MetricFamily> MetricSink::take() {
  std::vector<prometheus::MetricFamily> out(std::make_move_iterator(families_.begin()), std::make_move_iterator(families_.end()));
  families_.clear();
  index_.clear();
  return out;
}

}  // namespace myelin::metrics
