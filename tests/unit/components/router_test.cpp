// SPDX-License-Identifier: Apache-2.0
// The Router: routes by request kind, waits for ready except where a route
// says otherwise, answers unknown kinds and refuses a kind registered twice.
#include <gtest/gtest.h>

#include "server/router.hpp"

namespace myelin::server {
namespace {

std::vector<api::Response> call(Router& r, const api::Request& req) {
  std::vector<api::Response> out;
  std::atomic<bool> cancelled{false};
  r.handle(req, [&](const api::Response& resp) { out.push_back(resp); return true; }, cancelled);
  return out;
}

api::Request status_request() {
  api::Request q;
  q.mutable_status();
  return q;
}

api::Request ipam_request(const std::string& owner) {
  api::Request q;
  q.mutable_ipam_allocate()->set_owner(owner);
  return q;
}

TEST(Router, RoutesEachKindToItsHandler) {
  Router r;
  r.add(api::Request::kIpamAllocate, [](const api::Request& q) {
    api::Response resp;
    resp.mutable_ipam_allocate()->set_ip("owner=" + q.ipam_allocate().owner());
    return resp;
  });
  r.add(api::Request::kStatus, [](const api::Request&) {
    api::Response resp;
    resp.mutable_status()->set_node_name("n1");
    return resp;
  });
  ASSERT_TRUE(r.check());
  r.set_ready(true);
  auto a = call(r, ipam_request("c1/eth0"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].ipam_allocate().ip(), "owner=c1/eth0");
  auto s = call(r, status_request());
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].status().node_name(), "n1");
  EXPECT_EQ(r.kinds().size(), 2u);
}

TEST(Router, NotReadyUnlessTheRouteServesBeforeReady) {
  Router r;
  int ipam_calls = 0;
  r.add(api::Request::kIpamAllocate, [&](const api::Request&) { ++ipam_calls; return api::Response{}; });
  r.add(api::Request::kStatus, [](const api::Request&) {
    api::Response resp;
    resp.mutable_status()->set_ready(false);
    return resp;
  }, /*before_ready=*/true);
  auto a = call(r, ipam_request("x"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].error().code(), api::NOT_READY);
  EXPECT_EQ(a[0].error().message(), "agent is starting: datapath not ready yet");
  EXPECT_EQ(ipam_calls, 0);
  auto s = call(r, status_request());  // positive control: served while starting
  ASSERT_EQ(s.size(), 1u);
  EXPECT_TRUE(s[0].has_status());
  r.set_ready(true);
  call(r, ipam_request("x"));
  EXPECT_EQ(ipam_calls, 1);
}

TEST(Router, UnknownAndEmptyRequestsAreClearErrors) {
  Router r;
  r.add(api::Request::kStatus, [](const api::Request&) { return api::Response{}; });
  r.set_ready(true);
  for (const auto& q : {api::Request{}, ipam_request("x")}) {  // empty; a kind no component registered
    auto a = call(r, q);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].error().code(), api::INVALID_ARGUMENT);
    EXPECT_EQ(a[0].error().message(), "empty or unknown request (client newer than the agent?)");
  }
  // Before ready, an unknown kind is "not ready" (as before the router).
  Router starting;
  auto a = call(starting, api::Request{});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].error().code(), api::NOT_READY);
}

TEST(Router, AKindRegisteredTwiceIsRefusedNamingIt) {
  Router r;
  r.add(api::Request::kGpuList, [](const api::Request&) { return api::Response{}; });
  EXPECT_TRUE(r.check());
  r.add(api::Request::kGpuList, [](const api::Request&) { return api::Response{}; });
  auto s = r.check();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "API routes: two routes for gpu_list");
  Router e;
  e.add(api::Request::KIND_NOT_SET, [](const api::Request&) { return api::Response{}; });
  EXPECT_FALSE(e.check());
}

TEST(Router, StreamsAnswerUntilTheClientGoes) {
  Router r;
  r.add_stream(api::Request::kObserve, [](const api::Request&, const Dispatcher::Reply& reply, const std::atomic<bool>&) {
    for (int i = 0; i < 5; ++i) {
      api::Response resp;
      resp.mutable_flow()->set_node_name(std::to_string(i));
      if (!reply(resp)) return;
    }
  });
  r.set_ready(true);
  api::Request q;
  q.mutable_observe();
  std::vector<std::string> got;
  std::atomic<bool> cancelled{false};
  r.handle(q, [&](const api::Response& resp) { got.push_back(resp.flow().node_name()); return got.size() < 3; }, cancelled);
  EXPECT_EQ(got, (std::vector<std::string>{"0", "1", "2"}));
}

}  // namespace
}  // namespace myelin::server
