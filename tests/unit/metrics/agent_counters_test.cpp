// SPDX-License-Identifier: Apache-2.0
// AgentCounters, which the exporter renders: the regeneration histogram's
// buckets (a value on a bound counts in that bucket, as Prometheus' le; a
// value above the last only in +Inf, i.e. count), map operations by outcome.
#include <gtest/gtest.h>

#include "metrics/agent_counters.hpp"
#include "metrics/metric_sink.hpp"

namespace myelin::metrics {
namespace {

TEST(AgentCounters, RegenerationHistogramBuckets) {
  AgentCounters c;
  c.endpoint_regenerated(0.001, true);   // on the first bound
  c.endpoint_regenerated(0.0011, true);  // just above it
  c.endpoint_regenerated(0.3, true);
  c.endpoint_regenerated(5.0, true);     // above every bound
  c.endpoint_regenerated(0.01, false);
  auto h = c.regenerations();
  const auto& ok = h["success"];
  EXPECT_EQ(ok.count, 4u);
  EXPECT_DOUBLE_EQ(ok.sum, 0.001 + 0.0011 + 0.3 + 5.0);
  EXPECT_EQ(ok.buckets[0], 1u) << "le=0.001 holds 0.001";
  EXPECT_EQ(ok.buckets[1], 1u) << "le=0.0025 holds 0.0011";
  EXPECT_EQ(ok.buckets[8], 1u) << "le=0.5 holds 0.3";
  uint64_t in_buckets = 0;
  for (auto n : ok.buckets) in_buckets += n;
  EXPECT_EQ(in_buckets, 3u) << "5 s is only in +Inf (the count)";
  EXPECT_EQ(h["failure"].count, 1u);
  EXPECT_EQ(h["failure"].buckets[3], 1u) << "le=0.01";
}

TEST(AgentCounters, MapOperationsByOutcome) {
  AgentCounters c;
  c.map_op("myelin_pol_allow", "update", true);
  c.map_op("myelin_pol_allow", "update", true, 4);
  c.map_op("myelin_pol_allow", "update", false);
  c.map_op("myelin_pol_allow", "delete", true);
  auto ops = c.map_ops();
  EXPECT_EQ((ops[{"myelin_pol_allow", "update", "success"}]), 5u);
  EXPECT_EQ((ops[{"myelin_pol_allow", "update", "fail"}]), 1u);
  EXPECT_EQ((ops[{"myelin_pol_allow", "delete", "success"}]), 1u);
  c.policy_change(true);
  c.policy_change(false);
  c.policy_change(true);
  EXPECT_EQ(c.policy_changes(), (std::pair<uint64_t, uint64_t>{2, 1}));
}

// The Services families: bounded labels (path, protocol), every series
// present from the start at 0, counts where they belong.
TEST(AgentCounters, ServiceTranslationsAndNoBackendDrops) {
  AgentCounters c;
  c.service_flow("translated", "packet", "TCP");
  c.service_flow("translated", "packet", "TCP");
  c.service_flow("translated", "socket", "UDP");
  c.service_flow("no_backend", "packet", "UDP");
  MetricSink sink;
  AgentCountersComponent(c).collect(sink);
  EXPECT_TRUE(sink.conflicts().empty());
  std::map<std::string, std::map<std::pair<std::string, std::string>, double>> got;
  for (const auto& fam : sink.take()) {
    if (fam.name != "myelin_service_translations_total" && fam.name != "myelin_service_no_backend_drops_total") continue;
    EXPECT_EQ(fam.type, prometheus::MetricType::Counter);
    for (const auto& m : fam.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      EXPECT_EQ(labels.size(), 2u) << fam.name << ": path and protocol only";
      got[fam.name][{labels["path"], labels["protocol"]}] = m.counter.value;
    }
  }
  const auto& t = got["myelin_service_translations_total"];
  const auto& n = got["myelin_service_no_backend_drops_total"];
  EXPECT_EQ(t.size(), 6u) << "packet/socket x TCP/UDP/SCTP";
  EXPECT_EQ(n.size(), 6u);
  EXPECT_EQ(t.at({"packet", "TCP"}), 2);
  EXPECT_EQ(t.at({"socket", "UDP"}), 1);
  EXPECT_EQ(t.at({"packet", "UDP"}), 0);
  EXPECT_EQ(t.at({"socket", "SCTP"}), 0);
  EXPECT_EQ(n.at({"packet", "UDP"}), 1);
  EXPECT_EQ(n.at({"packet", "TCP"}), 0) << "a translation is not a drop";
}

}  // namespace
}  // namespace myelin::metrics
