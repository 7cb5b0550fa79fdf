// SPDX-License-Identifier: Apache-2.0
// claim_pod_cidr against a real etcd: nodes claiming at once get distinct
// CIDRs of the pool, a node gets its own again after a restart, a full
// pool and bad flags are errors that say so.
#include <barrier>
#include <set>

#include "kvstore_test.hpp"
#include "myelin/kvstore/pod_cidr.hpp"
#include "myelin/net.hpp"

using namespace std::chrono_literals;
using myelin::kvstore::claim_pod_cidr;
using myelin::kvstore::release_pod_cidr;
using myelin::testing::EtcdTest;

namespace {

TEST_F(EtcdTest, NodesClaimingAtOnceGetDistinctCidrsAndKeepThem) {
  constexpr int kNodes = 10;
  std::vector<std::unique_ptr<myelin::kvstore::Etcd>> clients;
  for (int i = 0; i < kNodes; ++i) clients.push_back(myelin::testing::connect_or_die(server_->url()));
  std::vector<std::string> got(kNodes), errors(kNodes);
  std::barrier start(kNodes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i)
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto c = claim_pod_cidr(*clients[i], "default", "node" + std::to_string(i), "10.244.0.0/16", 24);
      if (c)
        got[i] = *c;
      else
        errors[i] = c.error().message;
    });
  for (auto& t : threads) t.join();
  auto pool = *myelin::net::parse_cidr4("10.244.0.0/16");
  std::set<std::string> distinct;
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_EQ(errors[i], "") << "node" << i;
    auto c = myelin::net::parse_cidr4(got[i]);
    ASSERT_TRUE(c) << got[i];
    EXPECT_EQ(c->prefix, 24);
    EXPECT_TRUE(pool.contains(c->base)) << got[i];
    distinct.insert(got[i]);
  }
  EXPECT_EQ(distinct.size(), size_t(kNodes));
  // The lowest ones: 10.244.0.0/24 .. 10.244.9.0/24.
  EXPECT_EQ(*distinct.begin(), "10.244.0.0/24");
  EXPECT_EQ(distinct.count("10.244.9.0/24"), 1u);
  // A restart (a new client): the same CIDR, no second claim.
  for (int i = 0; i < kNodes; ++i) {
    auto again = claim_pod_cidr(*etcd_, "default", "node" + std::to_string(i), "10.244.0.0/16", 24);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(*again, got[i]);
  }
  EXPECT_EQ(etcd_->list("myelin/v1/default/podcidrs/")->first.size(), size_t(kNodes));
  auto key = etcd_->get("myelin/v1/default/podcidrs/10.244.0.0_24");
  ASSERT_TRUE(key && key->has_value());
  EXPECT_EQ((*key)->lease, 0);  // no lease: survives the node's agent
  EXPECT_EQ(got[std::stoi((*key)->value.substr(4))], "10.244.0.0/24");
  // Another cluster's claims are its own.
  auto other = claim_pod_cidr(*etcd_, "other", "node0", "10.244.0.0/16", 24);
  ASSERT_TRUE(other);
  EXPECT_EQ(*other, "10.244.0.0/24");
}

TEST_F(EtcdTest, AFullPoolAndBadFlagsAreErrorsAndAReleasedCidrIsReused) {
  for (int i = 0; i < 4; ++i) {
    auto c = claim_pod_cidr(*etcd_, "default", "n" + std::to_string(i), "10.9.0.0/28", 30);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(*c, "10.9.0." + std::to_string(4 * i) + "/30");
  }
  auto full = claim_pod_cidr(*etcd_, "default", "n4", "10.9.0.0/28", 30);
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message.find("every /30 of 10.9.0.0/28 is claimed"), std::string::npos) << full.error().message;
  // Released (node n1 removed for good): the next node gets it; another node's release is a no-op.
  ASSERT_TRUE(release_pod_cidr(*etcd_, "default", "n2", "10.9.0.4/30"));
  ASSERT_TRUE(etcd_->get("myelin/v1/default/podcidrs/10.9.0.4_30")->has_value());
  ASSERT_TRUE(release_pod_cidr(*etcd_, "default", "n1", "10.9.0.4/30"));
  auto reused = claim_pod_cidr(*etcd_, "default", "n4", "10.9.0.0/28", 30);
  ASSERT_TRUE(reused) << reused.error().message;
  EXPECT_EQ(*reused, "10.9.0.4/30");

  auto bad_pool = claim_pod_cidr(*etcd_, "default", "n", "10.9.0.1/28", 30);
  ASSERT_FALSE(bad_pool);
  EXPECT_NE(bad_pool.error().message.find("--cluster-pool-cidr"), std::string::npos) << bad_pool.error().message;
  auto bad_mask = claim_pod_cidr(*etcd_, "default", "n", "10.9.0.0/28", 24);
  ASSERT_FALSE(bad_mask);
  EXPECT_NE(bad_mask.error().message.find("--cluster-pool-mask-size 24"), std::string::npos) << bad_mask.error().message;

  server_->kill9();
  auto down = claim_pod_cidr(*etcd_, "default", "n9", "10.9.0.0/28", 30);
  ASSERT_FALSE(down) << "a claim without the store";
}

}  // namespace
