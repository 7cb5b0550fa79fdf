// SPDX-License-Identifier: Apache-2.0
// EtcdIdentities against a real etcd: ten nodes allocating the same label
// sets at once get one number per set; a restart keeps the numbers; ids
// without references are collected after the grace period (and referenced
// ones never); other nodes' identities reach list() and on_change; a lost
// lease's references are written again.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <random>

#include "kvstore_test.hpp"
#include "myelin/kvstore/identities.hpp"

using namespace std::chrono_literals;
using myelin::kvstore::Etcd;
using myelin::kvstore::EtcdIdentities;
using myelin::kvstore::EtcdIdentitiesOptions;
using myelin::kvstore::Session;
using myelin::testing::eventually;
using myelin::testing::EtcdTest;

namespace {

using Labels = std::vector<std::string>;

// What one agent has: its client, its session (whose new leases rewrite the
// references) and its identities.
struct Node {
  std::unique_ptr<Etcd> etcd;
  std::unique_ptr<Session> session;
  std::unique_ptr<EtcdIdentities> ids;
  std::atomic<EtcdIdentities*> ids_ptr{nullptr};
  // The session first: its thread calls into ids until it is joined.
  ~Node() {
    session.reset();
    ids.reset();
  }
};

std::unique_ptr<Node> make_node(const std::string& url, const std::string& name, EtcdIdentitiesOptions o = {},
                                std::chrono::seconds ttl = 10s) {
  auto n = std::make_unique<Node>();
  n->etcd = myelin::testing::connect_or_die(url);
  if (!n->etcd) return nullptr;
  auto* raw = n.get();
  auto s = Session::open(*n->etcd, ttl, [raw](int64_t lease) {
    if (auto* ids = raw->ids_ptr.load()) (void)ids->write_references(lease);
  });
  if (!s) return nullptr;
  n->session = std::move(*s);
  o.node = name;
  auto ids = EtcdIdentities::open(*n->etcd, *n->session, o);
  if (!ids) {
    ADD_FAILURE() << ids.error().message;
    return nullptr;
  }
  n->ids = std::move(*ids);
  n->ids_ptr = n->ids.get();
  return n;
}

const std::string kIdPrefix = "myelin/v1/default/identities/id/";
const std::string kRefPrefix = "myelin/v1/default/identities/ref/";

size_t count_under(Etcd& e, const std::string& prefix) {
  auto l = e.list(prefix);
  return l ? l->first.size() : 0;
}

TEST_F(EtcdTest, TenNodesAllocatingTheSameLabelsAtOnceGetOneNumberEach) {
  constexpr int kNodes = 10;
  const std::vector<Labels> sets = {{"k8s:app=a", "k8s:io.kubernetes.pod.namespace=x"},
                                    {"k8s:app=b", "k8s:io.kubernetes.pod.namespace=x"},
                                    {"k8s:app=c", "k8s:io.kubernetes.pod.namespace=y"},
                                    {"k8s:app=d", "k8s:io.kubernetes.pod.namespace=y"},
                                    {"k8s:app=e", "k8s:io.kubernetes.pod.namespace=z"}};
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 0; i < kNodes; ++i) {
    nodes.push_back(make_node(server_->url(), "node" + std::to_string(i)));
    ASSERT_TRUE(nodes.back());
  }
  std::vector<std::vector<uint32_t>> got(kNodes, std::vector<uint32_t>(sets.size(), 0));
  std::vector<std::string> errors(kNodes);
  std::barrier start(kNodes);
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i)
    threads.emplace_back([&, i] {
      std::vector<size_t> order(sets.size());
      for (size_t k = 0; k < order.size(); ++k) order[k] = k;
      std::mt19937 rng(i);
      std::shuffle(order.begin(), order.end(), rng);
      start.arrive_and_wait();
      for (size_t k : order) {
        Labels l = sets[k];
        std::reverse(l.begin(), l.end());  // order of labels does not matter
        auto id = nodes[i]->ids->acquire(l);
        if (!id) {
          errors[i] = id.error().message;
          return;
        }
        got[i][k] = *id;
      }
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kNodes; ++i) ASSERT_EQ(errors[i], "") << "node" << i;
  std::set<uint32_t> distinct;
  for (size_t k = 0; k < sets.size(); ++k) {
    for (int i = 1; i < kNodes; ++i) EXPECT_EQ(got[i][k], got[0][k]) << "set " << k << " node" << i;
    EXPECT_GE(got[0][k], 256u);
    distinct.insert(got[0][k]);
  }
  EXPECT_EQ(distinct.size(), sets.size());
  EXPECT_EQ(count_under(*etcd_, kIdPrefix), sets.size());  // no duplicate left behind
  EXPECT_EQ(count_under(*etcd_, kRefPrefix), sets.size() * kNodes);
  // Every node's view converges on the same table.
  for (auto& n : nodes)
    EXPECT_TRUE(eventually([&] { return n->ids->list().size() == sets.size(); })) << n->ids->list().size();
  for (auto& n : nodes) EXPECT_EQ(n->ids->list(), nodes[0]->ids->list());
  EXPECT_EQ(*nodes[3]->ids->labels(got[0][2]), (Labels{"k8s:app=c", "k8s:io.kubernetes.pod.namespace=y"}));
  // A second acquire on a node counts locally: one reference key still.
  ASSERT_EQ(*nodes[0]->ids->acquire(sets[0]), got[0][0]);
  EXPECT_EQ(count_under(*etcd_, kRefPrefix + std::to_string(got[0][0]) + "/"), size_t(kNodes));
  ASSERT_TRUE(nodes[0]->ids->release(got[0][0]));
  EXPECT_EQ(count_under(*etcd_, kRefPrefix + std::to_string(got[0][0]) + "/"), size_t(kNodes));  // one left on node0
  ASSERT_TRUE(nodes[0]->ids->release(got[0][0]));
  EXPECT_EQ(count_under(*etcd_, kRefPrefix + std::to_string(got[0][0]) + "/"), size_t(kNodes - 1));
}

TEST_F(EtcdTest, ARestartedNodeGetsTheSameNumbers) {
  const Labels l1 = {"k8s:app=one"}, l2 = {"k8s:app=two"}, l3 = {"k8s:app=three"};
  uint32_t id1, id2;
  {
    auto a = make_node(server_->url(), "a");
    ASSERT_TRUE(a);
    id1 = *a->ids->acquire(l1);
    id2 = *a->ids->acquire(l2);
    EXPECT_NE(id1, id2);
  }  // the agent stops: nothing revoked, nothing deleted
  auto b = make_node(server_->url(), "b");
  ASSERT_TRUE(b);
  uint32_t id3 = *b->ids->acquire(l3);
  EXPECT_NE(id3, id1);
  EXPECT_NE(id3, id2);
  auto a2 = make_node(server_->url(), "a");
  ASSERT_TRUE(a2);
  EXPECT_EQ(*a2->ids->acquire(l2), id2);
  EXPECT_EQ(*a2->ids->acquire(l1), id1);
  EXPECT_EQ(*a2->ids->acquire(l3), id3);
}

TEST_F(EtcdTest, UnreferencedIdsAreCollectedAfterTheGraceAndReferencedOnesNever) {
  EtcdIdentitiesOptions o;
  o.gc_grace = 1500ms;
  o.gc_interval = 200ms;
  auto a = make_node(server_->url(), "a", o);
  auto b = make_node(server_->url(), "b", o, 2s);
  ASSERT_TRUE(a && b);
  const Labels l1 = {"k8s:app=gone"}, l2 = {"k8s:app=kept"};
  uint32_t id1 = *a->ids->acquire(l1);
  uint32_t id2 = *a->ids->acquire(l2);
  ASSERT_EQ(*b->ids->acquire(l2), id2);
  ASSERT_TRUE(a->ids->release(id1));
  ASSERT_TRUE(a->ids->release(id2));
  auto t0 = std::chrono::steady_clock::now();
  // id1: nobody refers to it: collected, not before the grace period.
  ASSERT_TRUE(eventually([&] { return !etcd_->get(kIdPrefix + std::to_string(id1))->has_value(); }, 15s));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 1500ms);
  // id2: b still refers to it: there after more than twice the grace.
  std::this_thread::sleep_for(3s);
  EXPECT_TRUE(etcd_->get(kIdPrefix + std::to_string(id2))->has_value());
  EXPECT_TRUE(eventually([&] { return a->ids->list().count(id1) == 0; }));
  EXPECT_EQ(a->ids->list().count(id2), 1u);
  // b crashes (its session is not revoked: the lease expires after 2 s):
  // its reference goes, and then the id.
  b->session.reset();
  b->ids.reset();
  EXPECT_TRUE(eventually([&] { return !etcd_->get(kIdPrefix + std::to_string(id2))->has_value(); }, 20s));
  // A collected label set gets a number again when asked.
  auto again = a->ids->acquire(l1);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(etcd_->get(kIdPrefix + std::to_string(*again))->has_value());
}

TEST_F(EtcdTest, OtherNodesIdentitiesReachListAndOnChange) {
  EtcdIdentitiesOptions o;
  o.gc_grace = 500ms;
  o.gc_interval = 200ms;
  auto a = make_node(server_->url(), "a", o);
  auto b = make_node(server_->url(), "b", o);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(eventually([&] { return a->ids->synced() && b->ids->synced(); }));
  std::atomic<int> changes{0};
  a->ids->on_change([&] { ++changes; });
  uint32_t own = *a->ids->acquire({"k8s:app=own"});
  uint32_t theirs = *b->ids->acquire({"k8s:app=theirs"});
  ASSERT_TRUE(eventually([&] { return a->ids->list().count(theirs) == 1; }));
  EXPECT_EQ(*a->ids->labels(theirs), (Labels{"k8s:app=theirs"}));
  EXPECT_EQ(changes.load(), 1) << "a's own acquire is not a change of another node";
  EXPECT_EQ(a->ids->list().count(own), 1u);
  EXPECT_EQ(*a->ids->labels(1), (Labels{"reserved:host"}));
  EXPECT_FALSE(a->ids->labels(theirs + 1000));
  // b's identity goes (released, collected): a hears it.
  ASSERT_TRUE(b->ids->release(theirs));
  EXPECT_TRUE(eventually([&] { return a->ids->list().count(theirs) == 0; }, 15s));
  EXPECT_TRUE(eventually([&] { return changes.load() == 2; }));
  EXPECT_EQ(a->ids->list().count(own), 1u);  // referenced: kept
}

TEST_F(EtcdTest, ReferencesAreWrittenAgainUnderANewLease) {
  auto a = make_node(server_->url(), "a", {}, 3s);
  ASSERT_TRUE(a);
  uint32_t id = *a->ids->acquire({"k8s:app=x"});
  const std::string ref = kRefPrefix + std::to_string(id) + "/a";
  auto before = etcd_->get(ref);
  ASSERT_TRUE(before && before->has_value());
  int64_t old_lease = (*before)->lease;
  ASSERT_TRUE(etcd_->revoke(old_lease));  // the lease is lost: the reference with it
  EXPECT_FALSE(etcd_->get(ref)->has_value());
  ASSERT_TRUE(eventually([&] {
    auto r = etcd_->get(ref);
    return r && r->has_value() && (*r)->lease != old_lease;
  }));
  EXPECT_EQ((*etcd_->get(ref))->lease, a->session->lease());
}

TEST_F(EtcdTest, AnExhaustedRangeIsAnError) {
  EtcdIdentitiesOptions o;
  o.first = 300;
  o.last = 301;
  auto a = make_node(server_->url(), "a", o);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a->ids->acquire({"k8s:app=1"}), 300u);
  EXPECT_EQ(*a->ids->acquire({"k8s:app=2"}), 301u);
  auto third = a->ids->acquire({"k8s:app=3"});
  ASSERT_FALSE(third);
  EXPECT_NE(third.error().message.find("taken"), std::string::npos) << third.error().message;
  EXPECT_EQ(*a->ids->acquire({"k8s:app=1"}), 300u);  // a known set still resolves
}

TEST_F(EtcdTest, StoreUnreachableKnownIdsResolveAndUnknownOnesFail) {
  auto a = make_node(server_->url(), "a", EtcdIdentitiesOptions{.gc_interval = 200ms});
  ASSERT_TRUE(a);
  uint32_t id = *a->ids->acquire({"k8s:app=known"});
  ASSERT_TRUE(a->ids->release(id));
  ASSERT_TRUE(eventually([&] { return a->ids->list().count(id) == 1; }));
  server_->kill9();
  auto known = a->ids->acquire({"k8s:app=known"});
  ASSERT_TRUE(known) << known.error().message;
  EXPECT_EQ(*known, id);
  EXPECT_EQ(a->ids->pending_references(), 1u);
  EXPECT_FALSE(a->ids->acquire({"k8s:app=never-seen"})) << "a number only this node knows";
  ASSERT_TRUE(server_->start()) << server_->log_tail();
  // The reference follows once the store answers.
  EXPECT_TRUE(eventually([&] { return etcd_->get(kRefPrefix + std::to_string(id) + "/a").ok() &&
                                      etcd_->get(kRefPrefix + std::to_string(id) + "/a")->has_value(); },
                         20s));
  EXPECT_TRUE(eventually([&] { return a->ids->pending_references() == 0; }));
}

}  // namespace
