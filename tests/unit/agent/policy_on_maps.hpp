// SPDX-License-Identifier: Apache-2.0
// A test fixture: PolicyManager and EndpointManager over the real pinned maps.
// The datapath is loaded (nothing attached) with its maps pinned under a
// per-test bpffs directory, the stores live in a per-test temp directory,
// and endpoints are seeded as the CNI ADD would leave them. Root is needed to
// load BPF (skipped otherwise). Used by tests/unit/agent and
// tests/unit/node_datapath.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "agent/policy_manager.hpp"
#include "myelin/pseudo_fs.hpp"

namespace myelin::agent::testing {

class PolicyOnMaps : public ::testing::Test {
 protected:
  // `name` tells the per-test pin and state directories apart; `pod_cidr` is the IPAM's.
  PolicyOnMaps(std::string name, std::string pod_cidr) : name_(std::move(name)), pod_cidr_(std::move(pod_cidr)) {}

  void SetUp() override {
    namespace fs = std::filesystem;
    if (geteuid() != 0) GTEST_SKIP() << "needs root: loads the datapath's maps (run the suite with sudo)";
    const std::string tag = std::to_string(getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    pin_dir_ = "/sys/fs/bpf/myelin-test-" + name_ + "-" + tag;
    state_ = fs::temp_directory_path() / ("mln-" + name_ + "-" + tag);
    fs::remove_all(state_);
    fs::create_directories(state_);
    ASSERT_TRUE(pseudofs::Mounts::ensure()) << "mount bpffs (see the log above)";
    if (auto s = datapath::make_pin_dir(pin_dir_); !s) FAIL() << s.error().message;
    datapath::Datapath::Options o;
    o.pin_dir = pin_dir_;
    auto dp = datapath::Datapath::load(o);
    ASSERT_TRUE(dp) << dp.error().message;
    dp_ = std::move(*dp);
    auto store = endpoints::EndpointStore::open((state_ / "endpoints.json").string());
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    auto ids = identity::IdentityAllocator::open((state_ / "identities.json").string());
    ASSERT_TRUE(ids) << ids.error().message;
    ids_ = std::move(*ids);
    auto ipam = ipam::Ipam::open(*net::parse_cidr4(pod_cidr_), (state_ / "ipam.json").string());
    ASSERT_TRUE(ipam) << ipam.error().message;
    ipam_ = std::move(*ipam);
    endpoints_ = std::make_unique<EndpointManager>(*dp_, *ipam_, *store_, *ids_, counters_);
    pm_ = std::make_unique<PolicyManager>(*dp_, *endpoints_, *store_, *ids_, counters_, objects_, /*audit_all=*/false);
    endpoints_->set_label_source([this](const std::string& ns, const std::string& pod) { return pm_->identity_labels(ns, pod); });
  }
  void TearDown() override {
    pm_.reset();
    endpoints_.reset();
    dp_.reset();
    if (!pin_dir_.empty()) (void)datapath::Datapath::unpin_all(pin_dir_);
    if (!state_.empty()) std::filesystem::remove_all(state_);
  }

  // As a CNI ADD leaves it (namespace prod): in the store and the endpoint
  // map, not yet identified.
  uint32_t add_endpoint(const std::string& pod, const char* ip) {
    api::Endpoint ep;
    ep.set_id(store_->next_id());
    ep.set_container_id("c-" + pod);
    ep.set_ifname("eth0");
    ep.set_ip(ip);
    ep.set_pod_namespace("prod");
    ep.set_pod_name(pod);
    EXPECT_TRUE(store_->upsert(ep));
    myelin_ep_info info{};
    info.ep_id = ep.id();
    info.ifindex = 1;
    info.flags = MYELIN_EP_F_READY;
    EXPECT_TRUE(dp_->endpoint_upsert(ep_key(ip), info));
    return ep.id();
  }

  static myelin_ep_key ep_key(const char* ip) {
    myelin_ep_key k{};
    k.addr.w[0] = inet_addr(ip);
    k.family = MYELIN_FAMILY_IPV4;
    return k;
  }

  std::string name_, pod_cidr_;
  std::string pin_dir_;
  std::filesystem::path state_;
  std::unique_ptr<datapath::Datapath> dp_;
  std::unique_ptr<endpoints::EndpointStore> store_;
  std::unique_ptr<identity::IdentityAllocator> ids_;
  std::unique_ptr<ipam::Ipam> ipam_;
  metrics::AgentCounters counters_;
  std::unique_ptr<EndpointManager> endpoints_;
  objects::ObjectStore objects_;  // outlives pm_, which subscribes to it
  std::unique_ptr<PolicyManager> pm_;
};

}  // namespace myelin::agent::testing
