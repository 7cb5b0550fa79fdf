// SPDX-License-Identifier: Apache-2.0
// The agent's persisted state: IPAM, endpoint store, identities. Each is
// reopened from its file to prove a restarted agent sees what it owned.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "myelin/endpoints/endpoint_store.hpp"
#include "myelin/identity/identity_allocator.hpp"
#include "myelin/identity/scoped_identities.hpp"
#include "myelin/ipam/ipam.hpp"

namespace myelin {
namespace {

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/myelin-unit-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

net::Cidr4 cidr(const char* s) { return *net::parse_cidr4(s); }

using IpamTest = TempDir;

TEST_F(IpamTest, SkipsNetworkAndBroadcastAndExhaustsCleanly) {
  auto ipam = ipam::Ipam::open(cidr("10.1.0.0/30"), file("ipam.json"));
  ASSERT_TRUE(ipam) << ipam.error().message;
  EXPECT_EQ((*ipam)->capacity(), 2u);
  auto a = (*ipam)->allocate("a/eth0");
  auto b = (*ipam)->allocate("b/eth0");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->str(), "10.1.0.1");
  EXPECT_EQ(b->str(), "10.1.0.2");
  auto c = (*ipam)->allocate("c/eth0");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ENOSPC);
  EXPECT_EQ((*ipam)->used(), 2u);
}

TEST_F(IpamTest, SameOwnerSameAddressAndReleaseFreesIt) {
  auto ipam = *ipam::Ipam::open(cidr("10.1.0.0/29"), file("ipam.json"));
  auto a1 = ipam->allocate("a/eth0");
  auto a2 = ipam->allocate("a/eth0");
  EXPECT_EQ(*a1, *a2);
  EXPECT_EQ(ipam->used(), 1u);
  EXPECT_TRUE(ipam->release("a/eth0"));
  EXPECT_TRUE(ipam->release("a/eth0")) << "releasing twice is fine";
  EXPECT_FALSE(ipam->lookup("a/eth0"));
  EXPECT_EQ(ipam->used(), 0u);
}

TEST_F(IpamTest, SurvivesReopenAndRefusesAnotherCidr) {
  {
    auto ipam = *ipam::Ipam::open(cidr("10.1.0.0/24"), file("ipam.json"));
    ASSERT_TRUE(ipam->allocate("a/eth0"));
    ASSERT_TRUE(ipam->allocate("b/eth0"));
  }
  auto again = ipam::Ipam::open(cidr("10.1.0.0/24"), file("ipam.json"));
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)->used(), 2u);
  EXPECT_EQ((*again)->lookup("b/eth0")->str(), "10.1.0.2");
  EXPECT_NE((*again)->allocate("c/eth0")->str(), "10.1.0.1") << "no reuse of a live address";
  auto other = ipam::Ipam::open(cidr("10.2.0.0/24"), file("ipam.json"));
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("10.1.0.0/24"), std::string::npos);
  EXPECT_NE(other.error().message.find("10.2.0.0/24"), std::string::npos);
}

TEST_F(IpamTest, CorruptFileIsAnErrorNamingIt) {
  std::ofstream(file("ipam.json")) << "{not json";
  auto ipam = ipam::Ipam::open(cidr("10.1.0.0/24"), file("ipam.json"));
  ASSERT_FALSE(ipam);
  EXPECT_NE(ipam.error().message.find("ipam.json"), std::string::npos);
}

TEST_F(IpamTest, ConcurrentAllocationsAreUnique) {
  auto ipam = *ipam::Ipam::open(cidr("10.1.0.0/24"), file("ipam.json"));
  std::vector<std::thread> threads;
  std::vector<std::string> got(20);
  for (int i = 0; i < 20; ++i)
    threads.emplace_back([&, i] { got[i] = ipam->allocate("c" + std::to_string(i) + "/eth0")->str(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), 20u);
}

using EndpointStoreTest = TempDir;

api::Endpoint ep(const std::string& cid, uint32_t id, const std::string& ip, uint32_t ifindex) {
  api::Endpoint e;
  e.set_container_id(cid);
  e.set_ifname("eth0");
  e.set_id(id);
  e.set_ip(ip);
  e.set_host_ifindex(ifindex);
  e.set_pod_name("pod-" + cid);
  return e;
}

TEST_F(EndpointStoreTest, LookupsPersistenceAndRemoval) {
  {
    auto s = *endpoints::EndpointStore::open(file("eps.json"));
    uint32_t a = s->next_id(), b = s->next_id();
    EXPECT_NE(a, 0u);
    EXPECT_NE(a, b);
    ASSERT_TRUE(s->upsert(ep("c2", b, "10.0.0.2", 12)));
    ASSERT_TRUE(s->upsert(ep("c1", a, "10.0.0.1", 11)));
    EXPECT_EQ(s->get("c1", "eth0")->id(), a);
    EXPECT_EQ(s->get_by_id(b)->container_id(), "c2");
    EXPECT_EQ(s->get_by_ip("10.0.0.1")->container_id(), "c1");
    EXPECT_EQ(s->get_by_ifindex(12)->container_id(), "c2");
    auto list = s->list();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_LT(list[0].id(), list[1].id()) << "listed by id";
  }
  auto s = *endpoints::EndpointStore::open(file("eps.json"));
  EXPECT_EQ(s->list().size(), 2u);
  EXPECT_EQ(s->get("c2", "eth0")->pod_name(), "pod-c2");
  uint32_t next = s->next_id();
  EXPECT_GT(next, 2u) << "ids are never reused after a restart";
  EXPECT_TRUE(s->remove("c1", "eth0"));
  EXPECT_TRUE(s->remove("c1", "eth0"));
  EXPECT_FALSE(s->get("c1", "eth0"));
  EXPECT_FALSE(s->get_by_id(1));
}

TEST_F(EndpointStoreTest, UpsertAllSavesTheBatchOrNothing) {
  auto s = *endpoints::EndpointStore::open(file("eps.json"));
  ASSERT_TRUE(s->upsert(ep("c1", 1, "10.0.0.1", 11)));
  ASSERT_TRUE(s->upsert_all({ep("c1", 1, "10.0.0.1", 21), ep("c2", 2, "10.0.0.2", 22)}));
  EXPECT_EQ(s->get_by_ifindex(21)->container_id(), "c1") << "an existing endpoint is replaced";
  EXPECT_FALSE(s->get_by_ifindex(11));
  EXPECT_EQ(s->get_by_id(2)->container_id(), "c2");
  {
    auto again = *endpoints::EndpointStore::open(file("eps.json"));
    ASSERT_EQ(again->list().size(), 2u) << "the whole batch is on disk";
    EXPECT_EQ(again->get("c1", "eth0")->host_ifindex(), 21u);
  }
  // The save fails (its directory is gone): the store stays as it was.
  std::filesystem::remove_all(dir_);
  EXPECT_FALSE(s->upsert_all({ep("c3", 3, "10.0.0.3", 23), ep("c1", 1, "10.0.0.1", 31)}));
  EXPECT_FALSE(s->get("c3", "eth0"));
  EXPECT_FALSE(s->get_by_id(3));
  EXPECT_EQ(s->get("c1", "eth0")->host_ifindex(), 21u);
  EXPECT_EQ(s->list().size(), 2u);
  // The same batch once the directory is back (the failure above was the save).
  std::filesystem::create_directories(dir_);
  EXPECT_TRUE(s->upsert_all({ep("c3", 3, "10.0.0.3", 23), ep("c1", 1, "10.0.0.1", 31)}));
  EXPECT_EQ(s->get_by_id(3)->container_id(), "c3");
  EXPECT_EQ(s->get("c1", "eth0")->host_ifindex(), 31u);
}

TEST_F(EndpointStoreTest, CorruptFileIsAnError) {
  std::ofstream(file("eps.json")) << "[]";
  auto s = endpoints::EndpointStore::open(file("eps.json"));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("eps.json"), std::string::npos);
}

using IdentityTest = TempDir;

TEST_F(IdentityTest, ReservedSameLabelsRefcountAndPersistence) {
  uint32_t web;
  {
    auto ids = *identity::IdentityAllocator::open(file("ids.json"));
    EXPECT_EQ(*ids->labels(identity::kWorld), std::vector<std::string>{"reserved:world"});
    EXPECT_EQ(identity::IdentityAllocator::reserved_name(identity::kHost), "host");
    web = *ids->acquire({"k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop"});
    EXPECT_GE(web, identity::kFirstAllocated);
    EXPECT_EQ(*ids->acquire({"k8s:io.kubernetes.pod.namespace=shop", "k8s:app=web"}), web) << "order-insensitive";
    uint32_t db = *ids->acquire({"k8s:app=db"});
    EXPECT_NE(db, web);
    EXPECT_TRUE(ids->release(db));
    EXPECT_FALSE(ids->labels(db)) << "freed at refcount 0";
  }
  auto ids = *identity::IdentityAllocator::open(file("ids.json"));
  ASSERT_TRUE(ids->labels(web));
  EXPECT_TRUE(ids->release(web));
  EXPECT_TRUE(ids->labels(web)) << "one reference left";
  EXPECT_TRUE(ids->release(web));
  EXPECT_FALSE(ids->labels(web));
}

// In a cluster, CIDR identities stay on the node (numbers from 2^24, never in
// a VNI) and pods' label sets go to the cluster's source.
TEST_F(IdentityTest, ScopedIdentitiesSplitCidrsFromPods) {
  auto cluster = *identity::IdentityAllocator::open(file("cluster.json"));
  auto local = *identity::IdentityAllocator::open(file("local.json"), identity::kFirstLocalIdentity);
  identity::ScopedIdentities ids(*cluster, *local);
  const uint32_t pod = *ids.acquire({"k8s:app=web"});
  const uint32_t cidr = *ids.acquire({"cidr:10.0.0.0/8"});
  EXPECT_LT(pod, identity::kFirstLocalIdentity);
  EXPECT_GE(cidr, identity::kFirstLocalIdentity);
  EXPECT_TRUE(cluster->labels(pod));
  EXPECT_FALSE(cluster->labels(cidr)) << "a CIDR identity never reaches the cluster's source";
  EXPECT_EQ(*ids.labels(cidr), std::vector<std::string>{"cidr:10.0.0.0/8"});
  auto all = ids.list();
  EXPECT_EQ(all.size(), 2u);
  EXPECT_TRUE(ids.release(cidr));
  EXPECT_FALSE(local->labels(cidr));
  EXPECT_TRUE(cluster->labels(pod)) << "released from the right source";
}

}  // namespace
}  // namespace myelin
