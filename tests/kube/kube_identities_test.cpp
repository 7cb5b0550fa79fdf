// SPDX-License-Identifier: Apache-2.0
// The kube client's writes and KubeIdentities against the stand-in API
// server: create (201, 409 AlreadyExists), merge patch (conditional on a
// resourceVersion), delete with preconditions, each seen by a watch; one
// number per label set from many nodes at once, the oldest of two numbers
// with the same labels, a taken number passed over, heartbeats and GC (a
// stale object goes, a used one stays), restart with the same numbers (an
// object deleted meanwhile created again), other nodes' identities told by
// on_change, CIDR identities node-local.
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "myelin/atomic_file.hpp"
#include "myelin/kube/client.hpp"
#include "myelin/kube/kube_identities.hpp"
#include "standin.hpp"

namespace myelin::test {
namespace {

using namespace std::chrono_literals;
using kube::KubeIdentities;

const std::vector<std::string> kWeb{"k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop"};
const std::vector<std::string> kDb{"k8s:app=db", "k8s:io.kubernetes.pod.namespace=shop"};

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

class KubeWrites : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<StandinApiServer>(StandinApiServer::Options{});
    auto cfg = kube::load_kubeconfig(server_->kubeconfig());
    ASSERT_TRUE(cfg) << cfg.error().message;
    cluster_ = *cfg;
    client_ = std::make_unique<kube::Client>(cluster_);
    char tmpl[] = "/tmp/myelin-kubeid-XXXXXX";
    state_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(state_); }

  kube::KubeIdentitiesOptions options(const std::string& node) {
    kube::KubeIdentitiesOptions o;
    o.node = node;
    o.refs_file = state_ + "/" + node + "-refs.json";
    o.local_file = state_ + "/" + node + "-local.json";
    o.reflector.backoff_min = 50ms;
    o.reflector.backoff_max = 500ms;
    o.sync_timeout = 10s;
    return o;
  }
  std::unique_ptr<KubeIdentities> open(const std::string& node, kube::KubeIdentitiesOptions o) {
    auto k = KubeIdentities::open(cluster_, std::move(o));
    EXPECT_TRUE(k) << (k ? "" : k.error().message);
    if (!k) return nullptr;
    EXPECT_TRUE((*k)->wait_synced(10s)) << node;
    return std::move(*k);
  }
  std::unique_ptr<KubeIdentities> open(const std::string& node) { return open(node, options(node)); }

  // The MyelinIdentity objects in the server: name -> object.
  std::map<std::string, nlohmann::json> stored() {
    std::map<std::string, nlohmann::json> out;
    auto l = client_->get(kube::kMyelinIdentities.path);
    EXPECT_TRUE(l) << (l ? "" : l.error().message);
    if (l)
      for (const auto& i : (*l)["items"]) out[i["metadata"]["name"].get<std::string>()] = i;
    return out;
  }
  nlohmann::json identity(uint32_t id, const std::vector<std::string>& labels, const std::string& created,
                          const std::string& heartbeat = "") {
    auto o = KubeIdentities::object_for(id, labels);
    o["metadata"]["creationTimestamp"] = created;
    if (!heartbeat.empty()) o["metadata"]["annotations"][kube::kHeartbeatAnnotation] = heartbeat;
    return o;
  }

  std::unique_ptr<StandinApiServer> server_;
  kube::ClusterConfig cluster_;
  std::unique_ptr<kube::Client> client_;
  std::string state_;
};

std::string rfc3339_ago(std::chrono::seconds ago) {
  std::time_t t = std::time(nullptr) - ago.count();
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

TEST_F(KubeWrites, CreatePatchDeleteWithTheirConflictsAndWatchEvents) {
  std::mutex mu;
  std::vector<std::string> events;
  kube::Reflector::Handler h{[&](const nlohmann::json& o) {
                               std::lock_guard lk(mu);
                               events.push_back("+" + o["metadata"]["name"].get<std::string>() + "@" +
                                                o["metadata"]["resourceVersion"].get<std::string>());
                             },
                             [&](const nlohmann::json& o) {
                               std::lock_guard lk(mu);
                               events.push_back("-" + o["metadata"]["name"].get<std::string>());
                             },
                             [] {}, nullptr, nullptr};
  kube::Reflector r(cluster_, kube::kMyelinIdentities, h);
  r.start();
  ASSERT_TRUE(eventually([&] { return r.has_synced(); }));

  const std::string coll = kube::kMyelinIdentities.path, path = coll + "/300";
  auto created = client_->create(coll, KubeIdentities::object_for(300, kWeb));
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_FALSE((*created)["metadata"].value("uid", "").empty());
  EXPECT_FALSE((*created)["metadata"].value("creationTimestamp", "").empty());
  const std::string rv1 = (*created)["metadata"]["resourceVersion"];

  auto again = client_->create(coll, KubeIdentities::object_for(300, kDb));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, kube::kConflict);
  EXPECT_NE(again.error().message.find("AlreadyExists"), std::string::npos) << again.error().message;
  auto got = client_->get(path);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ((*got)["securityLabels"]["k8s:app"], "web");  // the first create stays

  auto patched = client_->merge_patch(path, {{"metadata", {{"annotations", {{"myelin.io/heartbeat", "x"}}}}}});
  ASSERT_TRUE(patched) << patched.error().message;
  EXPECT_EQ((*patched)["metadata"]["annotations"]["myelin.io/heartbeat"], "x");
  EXPECT_EQ((*patched)["securityLabels"]["k8s:app"], "web");
  const std::string rv2 = (*patched)["metadata"]["resourceVersion"];
  EXPECT_NE(rv1, rv2);
  // Conditional on a version that is no longer current: refused, unchanged.
  auto stale = client_->merge_patch(path, {{"metadata", {{"resourceVersion", rv1}, {"annotations", {{"myelin.io/heartbeat", "y"}}}}}});
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, kube::kConflict);
  auto current = client_->merge_patch(path, {{"metadata", {{"resourceVersion", rv2}, {"annotations", {{"myelin.io/heartbeat", "z"}}}}}});
  ASSERT_TRUE(current) << current.error().message;
  const std::string rv3 = (*current)["metadata"]["resourceVersion"];

  auto del_stale = client_->remove(path, "", rv2);
  ASSERT_FALSE(del_stale);
  EXPECT_EQ(del_stale.error().code, kube::kConflict);
  EXPECT_TRUE(client_->get(path));
  auto del_uid = client_->remove(path, "not-its-uid");
  EXPECT_EQ(del_uid.error().code, kube::kConflict);
  auto del = client_->remove(path, "", rv3);
  ASSERT_TRUE(del) << del.error().message;
  auto gone = client_->get(path);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, kube::kNotFound);
  EXPECT_EQ(client_->remove(path).error().code, kube::kNotFound);
  EXPECT_EQ(client_->merge_patch(path, {{"metadata", {{"labels", {{"a", "b"}}}}}}).error().code, kube::kNotFound);

  // Every write once on the watch, in order; the refused ones not at all.
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(mu);
    return !events.empty() && events.back() == "-300";
  }));
  std::lock_guard lk(mu);
  EXPECT_EQ(events, (std::vector<std::string>{"+300@" + rv1, "+300@" + rv2, "+300@" + rv3, "-300"}));
}

TEST_F(KubeWrites, OneNumberPerLabelSetAcrossNodes) {
  auto a = open("a"), b = open("b");
  ASSERT_TRUE(a && b);
  auto web_a = a->acquire(kWeb);
  ASSERT_TRUE(web_a) << web_a.error().message;
  EXPECT_EQ(*web_a, KubeIdentities::first_candidate(kWeb, 256, 65535));
  auto web_b = b->acquire({kWeb[1], kWeb[0]});  // order does not matter
  ASSERT_TRUE(web_b) << web_b.error().message;
  EXPECT_EQ(*web_a, *web_b);
  auto db = b->acquire(kDb);
  ASSERT_TRUE(db);
  EXPECT_NE(*db, *web_a);  // the positive control: other labels, another number
  auto objs = stored();
  ASSERT_EQ(objs.size(), 2u);
  const auto& o = objs.at(std::to_string(*web_a));
  EXPECT_EQ(o["securityLabels"], (nlohmann::json{{"k8s:app", "web"}, {"k8s:io.kubernetes.pod.namespace", "shop"}}));
  EXPECT_EQ(o["metadata"]["labels"], (nlohmann::json{{"app", "web"}, {"io.kubernetes.pod.namespace", "shop"}}));
  // a learns b's identity through the watch, with its labels.
  ASSERT_TRUE(eventually([&] { return a->labels(*db).has_value(); }));
  EXPECT_EQ(*a->labels(*db), kDb);
  EXPECT_EQ(a->list().count(*db), 1u);
}

TEST_F(KubeWrites, TenNodesAtOnceGetOneNumber) {
  std::vector<std::unique_ptr<KubeIdentities>> nodes;
  for (int i = 0; i < 10; ++i) nodes.push_back(open("n" + std::to_string(i)));
  // 10 nodes x 20 label sets, every node racing for every set at once.
  std::vector<std::vector<std::string>> sets;
  for (int s = 0; s < 20; ++s) sets.push_back({"k8s:app=a" + std::to_string(s), "k8s:io.kubernetes.pod.namespace=race"});
  std::vector<std::vector<uint32_t>> got(nodes.size(), std::vector<uint32_t>(sets.size()));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (size_t n = 0; n < nodes.size(); ++n)
    threads.emplace_back([&, n] {
      for (size_t s = 0; s < sets.size(); ++s) {
        auto id = nodes[n]->acquire(sets[s]);
        if (!id) ++failures;
        else got[n][s] = *id;
      }
    });
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures, 0);
  std::set<uint32_t> distinct;
  for (size_t s = 0; s < sets.size(); ++s) {
    for (size_t n = 1; n < nodes.size(); ++n) EXPECT_EQ(got[n][s], got[0][s]) << "label set " << s << " node " << n;
    distinct.insert(got[0][s]);
  }
  EXPECT_EQ(distinct.size(), sets.size());
  EXPECT_EQ(stored().size(), sets.size());  // exactly one object per label set
}

TEST_F(KubeWrites, OldestOfTwoNumbersWinsAndATakenNumberIsPassedOver) {
  // A race past the hash left two numbers with the same labels: the older
  // (5000, though higher) is handed out; both are listed, for the endpoints that hold them.
  server_->control("apply", identity(5000, kWeb, "2026-01-01T00:00:01Z"));
  server_->control("apply", identity(4000, kWeb, "2026-01-01T00:00:09Z"));
  // Equal times: the lower number.
  server_->control("apply", identity(7001, kDb, "2026-01-01T00:00:05Z"));
  server_->control("apply", identity(7000, kDb, "2026-01-01T00:00:05Z"));
  // The first number of a third set is taken by other labels.
  const std::vector<std::string> other{"k8s:app=other", "k8s:io.kubernetes.pod.namespace=shop"};
  const uint32_t first = KubeIdentities::first_candidate(other, 256, 65535);
  server_->control("apply", identity(first, {"k8s:app=squatter", "k8s:io.kubernetes.pod.namespace=x"}, "2026-01-01T00:00:00Z"));
  auto a = open("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a->acquire(kWeb), 5000u);
  EXPECT_EQ(*a->acquire(kDb), 7000u);
  auto o = a->acquire(other);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_NE(*o, first);
  EXPECT_EQ(*o, first == 65535 ? 256u : first + 1);
  auto l = a->list();
  EXPECT_EQ(l.count(4000), 1u);
  EXPECT_EQ(l.count(5000), 1u);
  // The older one deleted: the other becomes the number handed out.
  server_->control("delete", {{"kind", "MyelinIdentity"}, {"name", "5000"}});
  auto b = open("b");
  EXPECT_EQ(*b->acquire(kWeb), 4000u);
}

TEST_F(KubeWrites, HeartbeatKeepsUsedIdentitiesAndGcDeletesStaleOnes) {
  // a uses identities and renews them (GC far away); g uses none and
  // collects what nobody renewed for 3 s.
  auto oa = options("a");
  oa.heartbeat_interval = 1s;
  oa.gc_timeout = 3s;
  oa.gc_interval = 1h;
  auto og = options("g");
  og.heartbeat_interval = 1s;
  og.gc_timeout = 3s;
  og.gc_interval = 200ms;
  // Stale: no heartbeat for an hour, nobody uses it.
  server_->control("apply", identity(9000, kDb, rfc3339_ago(2h), rfc3339_ago(1h)));
  // Stale but used by a: acquiring renews it at once.
  const std::vector<std::string> used{"k8s:app=used", "k8s:io.kubernetes.pod.namespace=x"};
  server_->control("apply", identity(9002, used, rfc3339_ago(2h), rfc3339_ago(1h)));
  auto a = open("a", oa);
  ASSERT_TRUE(a);
  ASSERT_EQ(*a->acquire(used), 9002u);
  EXPECT_EQ(stored().at("9002")["metadata"]["annotations"][kube::kHeartbeatAnnotation].get<std::string>().substr(0, 13),
            rfc3339_ago(0s).substr(0, 13));
  auto web = a->acquire(kWeb);
  ASSERT_TRUE(web);
  // Fresh: renewed a moment ago by some node.
  server_->control("apply", identity(9001, {"k8s:app=fresh", "k8s:io.kubernetes.pod.namespace=x"}, rfc3339_ago(2h), rfc3339_ago(0s)));
  auto g = open("g", og);
  ASSERT_TRUE(g);
  ASSERT_TRUE(eventually([&] { return !stored().count("9000"); }));
  EXPECT_GE(g->stats().collected, 1u);
  auto objs = stored();
  EXPECT_TRUE(objs.count("9001"));  // positive controls: renewed elsewhere, used by a
  EXPECT_TRUE(objs.count("9002"));
  EXPECT_TRUE(objs.count(std::to_string(*web)));
  // Held past more than one GC timeout: renewed by a, never collected by g.
  std::this_thread::sleep_for(4500ms);
  objs = stored();
  EXPECT_TRUE(objs.count("9002"));
  EXPECT_TRUE(objs.count(std::to_string(*web)));
  EXPECT_GE(a->stats().heartbeats, 2u);
  EXPECT_FALSE(objs.count("9001"));  // nobody renewed it: collected
  // Released by a: garbage after the timeout.
  ASSERT_TRUE(a->release(*web));
  ASSERT_TRUE(eventually([&] { return !stored().count(std::to_string(*web)); }, 15s));
  EXPECT_TRUE(stored().count("9002"));
}

TEST_F(KubeWrites, RestartKeepsNumbersAndRecreatesOneDeletedMeanwhile) {
  uint32_t web, db;
  {
    auto a = open("a");
    ASSERT_TRUE(a);
    web = *a->acquire(kWeb);
    db = *a->acquire(kDb);
  }
  // While a is down, a GC elsewhere deleted db's object.
  server_->control("delete", {{"kind", "MyelinIdentity"}, {"name", std::to_string(db)}});
  auto o = options("a");
  o.heartbeat_interval = 300ms;
  auto a = open("a", o);
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->labels(db).has_value()) << db << " list " << a->list().size() << " refs " << a->stats().referenced;
  EXPECT_EQ(*a->labels(db), kDb);  // known from the refs file before anything is listed again
  ASSERT_TRUE(eventually([&] { return stored().count(std::to_string(db)) == 1; }));
  EXPECT_EQ(stored().at(std::to_string(db))["securityLabels"]["k8s:app"], "db");
  EXPECT_GE(a->stats().recreated, 1u);
  EXPECT_EQ(*a->acquire(kWeb), web);
  EXPECT_EQ(*a->acquire(kDb), db);
}

TEST_F(KubeWrites, OnChangeTellsOtherNodesIdentitiesAndCidrsStayLocal) {
  // Before the nodes: these outlive their threads.
  std::atomic<int> changes{0}, told_web{0};
  const uint32_t expect = KubeIdentities::first_candidate(kWeb, 256, 65535);
  auto a = open("a"), b = open("b");
  ASSERT_TRUE(a && b);
  KubeIdentities* bp = b.get();
  b->on_change([&, bp] {
    ++changes;
    if (bp->labels(expect) == std::optional<std::vector<std::string>>(kWeb)) ++told_web;  // visible when told
  });
  EXPECT_EQ(told_web, 0);
  auto id = a->acquire(kWeb);
  ASSERT_TRUE(id);
  ASSERT_EQ(*id, expect);
  ASSERT_TRUE(eventually([&] { return told_web > 0; }));
  const int before = changes;
  ASSERT_TRUE(a->acquire(kWeb));  // a second reference writes nothing: nothing to tell
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(changes, before);
  auto cidr = a->acquire({"cidr:10.0.0.0/8"});
  ASSERT_TRUE(cidr) << cidr.error().message;
  EXPECT_GE(*cidr, identity::kFirstLocalIdentity);
  EXPECT_EQ(*a->labels(*cidr), (std::vector<std::string>{"cidr:10.0.0.0/8"}));
  EXPECT_EQ(stored().size(), 1u);  // no MyelinIdentity for it
  EXPECT_FALSE(b->labels(*cidr).has_value());
}

TEST_F(KubeWrites, WithoutTheCrdAcquireFailsSayingSo) {
  server_.reset();
  server_ = std::make_unique<StandinApiServer>(StandinApiServer::Options{{}, {"MyelinIdentity"}});
  auto cfg = kube::load_kubeconfig(server_->kubeconfig());
  ASSERT_TRUE(cfg);
  cluster_ = *cfg;
  auto o = options("a");
  o.sync_timeout = 1s;
  auto k = KubeIdentities::open(cluster_, o);
  ASSERT_TRUE(k);
  auto id = (*k)->acquire(kWeb);
  ASSERT_FALSE(id);
  EXPECT_NE(id.error().message.find("CRD"), std::string::npos) << id.error().message;
  // The node-local ones do not need the API.
  EXPECT_TRUE((*k)->acquire({"cidr:10.0.0.0/8"}));
}

}  // namespace
}  // namespace myelin::test
