// SPDX-License-Identifier: Apache-2.0
// The component list and StatusBuilder: start in order (the first error
// stops start-up), stop in reverse (only what started), each component
// appends its part of status, and answers only the features it declared.
#include <gtest/gtest.h>

#include "component/components.hpp"
#include "component/status_builder.hpp"
#include "metrics/metric_sink.hpp"
#include "server/router.hpp"

namespace myelin::component {
namespace {

struct Probe : Component {
  Probe(std::string n, std::vector<std::string>& log, bool fail = false, std::vector<std::string> feats = {})
      : n_(std::move(n)), log_(log), fail_(fail), feats_(std::move(feats)) {}
  ~Probe() override { log_.push_back("~" + n_); }
  std::string name() const override { return n_; }
  Status start() override {
    log_.push_back("start " + n_);
    if (fail_) return Error{n_ + ": cannot start"};
    return {};
  }
  void stop() override { log_.push_back("stop " + n_); }
  void routes(server::Router& r) override {
    if (n_ == "ipam") r.add(api::Request::kIpamAllocate, [](const api::Request&) { return api::Response{}; });
  }
  void collect(metrics::MetricSink& sink) const override {
    sink.counter("myelin_lost_events_total", "Events lost").add({{"source", n_}}, 1);
  }
  void status(StatusBuilder& b) const override {
    b.out().set_runtime_lost(b.out().runtime_lost() + 1);
    for (const auto& f : feats_) {
      auto got = b.feature(f);
      b.out().add_runtime_enforcement(n_ + " " + f + "=" + (got.available ? "yes" : "no") + " " + got.detail);
    }
    if (n_ == "tracing") {
      auto undeclared = b.feature("fentry");
      b.out().add_runtime_enforcement(n_ + " fentry=" + (undeclared.available ? "yes" : "no") + " " + undeclared.detail);
    }
  }
  std::vector<std::string> features() const override { return feats_; }
  std::string n_;
  std::vector<std::string>& log_;
  bool fail_;
  std::vector<std::string> feats_;
};

TEST(Components, StartInOrderStopInReverseDestroyInReverse) {
  std::vector<std::string> log;
  {
    Components c;
    c.add<Probe>("a", log);
    c.add<Probe>("b", log);
    c.add<Probe>("c", log);
    ASSERT_TRUE(c.start());
    c.stop();
    c.stop();  // stopping twice stops nothing twice
  }
  EXPECT_EQ(log, (std::vector<std::string>{"start a", "start b", "start c", "stop c", "stop b", "stop a", "~c", "~b", "~a"}));
}

TEST(Components, TheFirstErrorStopsStartUpAndWhatStartedIsStopped) {
  std::vector<std::string> log;
  {
    Components c;
    c.add<Probe>("a", log);
    c.add<Probe>("b", log, /*fail=*/true);
    c.add<Probe>("c", log);
    auto s = c.start();
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message, "b: cannot start");
  }
  // c never started, b failed: only a is stopped (by the destructor).
  EXPECT_EQ(log, (std::vector<std::string>{"start a", "start b", "stop a", "~c", "~b", "~a"}));
}

TEST(Components, EachAppendsItsStatusAndReadsOnlyDeclaredFeatures) {
  std::vector<std::string> log;
  Components c({{"bpf-lsm", false, "no bpf in lsm="}, {"fentry", true, "attaches"}});
  c.add<Probe>("runtime", log);
  c.add<Probe>("tracing", log, false, std::vector<std::string>{"bpf-lsm"});
  c.add<Probe>("kprobes", log, false, std::vector<std::string>{"fentry"});
  ASSERT_TRUE(c.check_features());
  api::StatusResponse s;
  c.status(s);
  EXPECT_EQ(s.runtime_lost(), 3u) << "a counter two components share is added to, not set";
  ASSERT_EQ(s.runtime_enforcement_size(), 3);
  EXPECT_EQ(s.runtime_enforcement(0), "tracing bpf-lsm=no no bpf in lsm=");
  EXPECT_EQ(s.runtime_enforcement(1), "tracing fentry=no not declared by the tracing component");
  EXPECT_EQ(s.runtime_enforcement(2), "kprobes fentry=yes attaches") << "positive control: the declared one is read";
}

TEST(Components, AFeatureTheProbeDoesNotKnowIsAStartUpError) {
  std::vector<std::string> log;
  Components c({{"fentry", true, ""}});
  c.add<Probe>("tracing", log, false, std::vector<std::string>{"fentry"});
  EXPECT_TRUE(c.check_features());
  c.add<Probe>("lsm", log, false, std::vector<std::string>{"bpf_lsm"});
  auto s = c.check_features();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "component lsm reads kernel feature 'bpf_lsm', which the probe does not report");
}

TEST(Components, RoutesAndMetricsComeFromEveryComponent) {
  std::vector<std::string> log;
  Components c;
  c.add<Probe>("ipam", log);
  c.add<Probe>("flows", log);
  server::Router r;
  c.routes(r);
  EXPECT_TRUE(r.check());
  EXPECT_EQ(r.kinds(), (std::vector<api::Request::KindCase>{api::Request::kIpamAllocate}));
  metrics::MetricSink sink;
  c.collect(sink);
  auto families = sink.take();
  ASSERT_EQ(families.size(), 1u) << "one family, samples from both";
  ASSERT_EQ(families[0].metric.size(), 2u);
  EXPECT_EQ(families[0].metric[0].label[0].value, "ipam");
  EXPECT_EQ(families[0].metric[1].label[0].value, "flows");
}

}  // namespace
}  // namespace myelin::component
