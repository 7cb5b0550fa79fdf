// SPDX-License-Identifier: Apache-2.0
// MetricSink: families in order of first use, samples from several users
// merged, a disagreeing help or type kept out and reported, histograms
// cumulative with +Inf; and the Prometheus text it makes.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <cmath>

#include "metrics/metric_sink.hpp"

namespace myelin::metrics {
namespace {

std::string text(std::vector<prometheus::MetricFamily> f) { return prometheus::TextSerializer().Serialize(f); }

TEST(MetricSink, FamiliesInOrderOfFirstUseWithSamplesFromEveryUser) {
  MetricSink s;
  s.counter("myelin_lost_events_total", "Events lost before a reader saw them, by where").add({{"source", "datapath_ringbuf"}}, 3);
  s.gauge("myelin_policy", "Network policies in force on this node").add({}, 2);
  s.counter("myelin_lost_events_total", "Events lost before a reader saw them, by where").add({{"source", "flow_store"}}, 5);
  EXPECT_TRUE(s.conflicts().empty());
  EXPECT_EQ(text(s.take()),
            "# HELP myelin_lost_events_total Events lost before a reader saw them, by where\n"
            "# TYPE myelin_lost_events_total counter\n"
            "myelin_lost_events_total{source=\"datapath_ringbuf\"} 3\n"
            "myelin_lost_events_total{source=\"flow_store\"} 5\n"
            "# HELP myelin_policy Network policies in force on this node\n"
            "# TYPE myelin_policy gauge\n"
            "myelin_policy 2\n");
}

TEST(MetricSink, ADisagreeingUseIsKeptOutAndReported) {
  MetricSink s;
  s.counter("myelin_x_total", "X").add({{"a", "1"}}, 1);
  s.counter("myelin_x_total", "Y").add({{"a", "2"}}, 2);
  s.gauge("myelin_x_total", "X").add({{"a", "3"}}, 3);
  s.counter("myelin_x_total", "X").add({{"a", "4"}}, 4);  // positive control: an agreeing use still adds
  ASSERT_EQ(s.conflicts().size(), 2u);
  EXPECT_EQ(s.conflicts()[0], "myelin_x_total: used again with another help text");
  EXPECT_EQ(s.conflicts()[1], "myelin_x_total: used again with another type");
  auto f = s.take();
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].metric.size(), 2u);
  EXPECT_EQ(f[0].metric[0].counter.value, 1);
  EXPECT_EQ(f[0].metric[1].counter.value, 4);
}

TEST(MetricSink, HistogramsAreCumulativeWithInf) {
  MetricSink s;
  s.histogram("myelin_endpoint_regeneration_seconds", "Time to program an endpoint into the datapath")
      .add_histogram({{"outcome", "success"}}, {0.001, 0.01}, {2, 3}, 7, 0.5);
  auto f = s.take();
  ASSERT_EQ(f.size(), 1u);
  const auto& h = f[0].metric[0].histogram;
  ASSERT_EQ(h.bucket.size(), 3u);
  EXPECT_EQ(h.bucket[0].cumulative_count, 2u);
  EXPECT_EQ(h.bucket[1].cumulative_count, 5u);
  EXPECT_EQ(h.bucket[2].cumulative_count, 7u);
  EXPECT_TRUE(std::isinf(h.bucket[2].upper_bound));
  EXPECT_EQ(h.sample_count, 7u);
  EXPECT_EQ(h.sample_sum, 0.5);
  EXPECT_NE(text(std::move(f)).find("myelin_endpoint_regeneration_seconds_bucket{outcome=\"success\",le=\"+Inf\"} 7"), std::string::npos);
}

TEST(MetricSink, TakeEmptiesIt) {
  MetricSink s;
  s.gauge("myelin_identity", "Security identities allocated on this node").add({}, 1);
  EXPECT_EQ(s.take().size(), 1u);
  EXPECT_TRUE(s.take().empty());
}

}  // namespace
}  // namespace myelin::metrics
