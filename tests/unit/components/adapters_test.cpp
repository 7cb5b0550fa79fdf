// SPDX-License-Identifier: Apache-2.0
// The adapters that need no kernel, through the Router as the API server
// calls them: IPAM (allocate, exhausted, release, its status) and flows
// (observe, a bad filter, its status and lost-events sample).
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "agent/components.hpp"
#include "component/components.hpp"
#include "metrics/metric_sink.hpp"
#include "server/router.hpp"

namespace myelin::agent {
namespace {

std::vector<api::Response> call(server::Router& r, const api::Request& req) {
  std::vector<api::Response> out;
  std::atomic<bool> cancelled{false};
  r.handle(req, [&](const api::Response& resp) { out.push_back(resp); return true; }, cancelled);
  return out;
}

struct TempDir {
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "mln-components-test.XXXXXX").string();
    path = mkdtemp(t.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

TEST(IpamComponent, AllocatesReleasesAndSaysWhenExhausted) {
  TempDir dir;
  auto cidr = net::parse_cidr4("10.219.5.0/30");  // two usable addresses: gateway and one pod
  ASSERT_TRUE(cidr);
  auto ipam = ipam::Ipam::open(*cidr, dir.path + "/ipam.json");
  ASSERT_TRUE(ipam) << ipam.error().message;
  component::Components all;
  all.add<IpamComponent>(**ipam, *cidr);
  server::Router router;
  all.routes(router);
  ASSERT_TRUE(router.check());
  router.set_ready(true);

  api::Request alloc;
  alloc.mutable_ipam_allocate()->set_owner("c1/eth0");
  auto a = call(router, alloc);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_TRUE(a[0].has_ipam_allocate()) << a[0].DebugString();
  EXPECT_EQ(a[0].ipam_allocate().pod_cidr(), "10.219.5.0/30");
  EXPECT_EQ(a[0].ipam_allocate().prefix_len(), 32u);

  api::StatusResponse s;
  all.status(s);
  EXPECT_EQ(s.ipam_used(), (*ipam)->used());
  EXPECT_EQ(s.ipam_capacity(), (*ipam)->capacity());
  EXPECT_GE(s.ipam_used(), 1u);

  // Until exhausted: the error names the CIDR and the counts.
  api::Response last;
  for (int i = 0; i < 8; ++i) {
    alloc.mutable_ipam_allocate()->set_owner("c" + std::to_string(i + 2) + "/eth0");
    last = call(router, alloc)[0];
    if (last.has_error()) break;
  }
  ASSERT_TRUE(last.has_error());
  EXPECT_EQ(last.error().code(), api::EXHAUSTED);
  EXPECT_EQ(last.error().message().rfind("no free address in pod CIDR 10.219.5.0/30 (", 0), 0u) << last.error().message();

  api::Request empty_owner;
  empty_owner.mutable_ipam_allocate();
  EXPECT_EQ(call(router, empty_owner)[0].error().message(), "IPAM allocate needs an owner");

  api::Request release;
  release.mutable_ipam_release()->set_owner("c1/eth0");
  auto r = call(router, release);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].has_empty()) << r[0].DebugString();
}

TEST(FlowsComponent, ObservesTheStoreAndReportsIt) {
  flows::FlowStore store(4);
  for (int i = 0; i < 6; ++i) {  // more than fit: two evicted
    flow::Flow f;
    f.mutable_ip()->set_source("10.244.1." + std::to_string(i));
    f.mutable_time()->set_seconds(1700000000 + i);
    f.set_verdict(flow::FORWARDED);
    store.push(std::move(f));
  }
  component::Components all;
  all.add<FlowsComponent>(store, "node1");
  server::Router router;
  all.routes(router);
  router.set_ready(true);

  api::Request q;
  q.mutable_observe();
  auto got = call(router, q);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got.back().flow().flow().ip().source(), "10.244.1.5");

  api::Request bad;
  bad.mutable_observe()->add_whitelist()->add_source_ip("not-an-ip");
  auto b = call(router, bad);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].error().code(), api::INVALID_ARGUMENT) << b[0].DebugString();

  api::StatusResponse s;
  all.status(s);
  EXPECT_EQ(s.flows_stored(), 4u);
  EXPECT_EQ(s.flows_capacity(), 4u);
  EXPECT_EQ(s.flows_seen(), 6u);
  EXPECT_EQ(s.events_lost_store(), 2u);

  metrics::MetricSink sink;
  all.collect(sink);
  auto f = sink.take();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].name, "myelin_lost_events_total");
  ASSERT_EQ(f[0].metric.size(), 1u);
  EXPECT_EQ(f[0].metric[0].label[0].value, "flow_store");
  EXPECT_EQ(f[0].metric[0].counter.value, 2);
}

}  // namespace
}  // namespace myelin::agent
