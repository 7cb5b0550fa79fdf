// SPDX-License-Identifier: Apache-2.0
// KubeSource against the stand-in API server: every object reaches the object
// store named "k8s:<resource>/<ns>/<name>" before the first regeneration, which
// waits until every resource has been listed or found not served (a missing
// CRD); an API server that cannot be listed is an error naming what, and
// never a regeneration from a half-synced cache. upsert_object on its own:
// a TracingPolicy is stored as one, a bad object is refused.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "sources/kube_source.hpp"
#include "standin.hpp"

namespace myelin::test {
namespace {

using namespace std::chrono_literals;

// What the object store heard, in order: "apply <source> <n in force>" (once
// per change), "refuse <source>", "remove <source>", "changed".
struct Sink {
  objects::ObjectStore store;
  std::mutex mu;
  std::vector<std::string> log;
  objects::ObjectStore::SubscriptionId id = 0;
  Sink() {
    objects::ObjectStore::Subscriber sub;
    for (const auto& k : objects::kinds()) sub.kinds.insert(k.kind);
    sub.on_event = [this](const objects::Event& e) {
      std::string line = "remove " + e.key.source;
      for (auto part : {objects::Part::objects, objects::Part::tracing})
        for (const auto& st : store.sources(part))
          if (st.file == e.key.source && st.objects) line = "apply " + e.key.source + " " + std::to_string(st.objects);
      add(line);
    };
    sub.on_refusal = [this](objects::Part, const std::string& f, const policy::Refusal* r) {
      if (r) add("refuse " + f);
    };
    sub.on_changed = [this] { add("changed"); };
    id = store.subscribe(std::move(sub));
  }
  ~Sink() { store.unsubscribe(id); }
  void add(std::string s) {
    std::lock_guard lk(mu);
    if (log.empty() || log.back() != s) log.push_back(std::move(s));
  }
  std::vector<std::string> seen() {
    std::lock_guard lk(mu);
    return log;
  }
  // The regeneration is asked for right after start() sees every resource synced: wait for it (bounded).
  std::vector<std::string> seen_after(const std::string& what) {
    for (int i = 0; i < 500; ++i) {
      auto v = seen();
      if (std::find(v.begin(), v.end(), what) != v.end()) return v;
      std::this_thread::sleep_for(20ms);
    }
    return seen();
  }
};

long position(const std::vector<std::string>& v, const std::string& s) {
  auto it = std::find(v.begin(), v.end(), s);
  return it == v.end() ? -1 : it - v.begin();
}

kube::ReflectorOptions fast() {
  kube::ReflectorOptions o;
  o.backoff_min = 50ms;
  o.backoff_max = 500ms;
  return o;
}

TEST(KubeSource, EveryObjectBeforeTheFirstRegenerationAndAMissingCrdCountsAsListed) {
  StandinApiServer api{{{MYELIN_KUBE_TESTDATA}, {"CiliumClusterwideNetworkPolicy", "TracingPolicy"}, 0.2}};
  auto cfg = kube::load_kubeconfig(api.kubeconfig());
  ASSERT_TRUE(cfg) << cfg.error().message;
  Sink sink;
  sources::KubeSource source(*cfg, sink.store, nullptr, fast());
  auto s = source.start(20s);
  ASSERT_TRUE(s) << s.error().message;
  const auto seen = sink.seen_after("changed");
  const long changed = position(seen, "changed");
  ASSERT_GE(changed, 0) << "synced: a regeneration";
  for (const char* obj : {"apply k8s:namespaces/shop 1", "apply k8s:pods/shop/frontend-7c9d8b6f5d-x2x4k 1",
                          "apply k8s:networkpolicies/shop/frontend-ingress 1",
                          "apply k8s:ciliumnetworkpolicies/shop/deny-metadata-egress 1"}) {
    const long at = position(seen, obj);
    EXPECT_GE(at, 0) << obj << " reached the store";
    EXPECT_LT(at, changed) << obj << " before the first regeneration: policy is never computed from a half-synced cache";
  }
  source.stop();
}

TEST(KubeSource, AnApiServerThatCannotBeListedIsAnErrorAndNoRegeneration) {
  StandinApiServer api{{{MYELIN_KUBE_TESTDATA}, {}, 0.2}};
  auto cfg = kube::load_kubeconfig(api.kubeconfig_with_token("not-the-token"));
  ASSERT_TRUE(cfg) << cfg.error().message;
  Sink sink;
  sources::KubeSource source(*cfg, sink.store, nullptr, fast());
  auto s = source.start(3s);
  ASSERT_FALSE(s) << "nothing could be listed";
  EXPECT_NE(s.error().message.find("could not list namespaces"), std::string::npos) << s.error().message;
  source.stop();
  EXPECT_EQ(position(sink.seen(), "changed"), -1) << "no regeneration from an empty cache";
}

TEST(KubeSourceObjects, ATracingPolicyIsStoredAsOneAndABadObjectIsRefused) {
  const kube::Resource tp{"tracingpolicies", "/apis/cilium.io/v1alpha1/tracingpolicies", "TracingPolicy", "cilium.io/v1alpha1"};
  const kube::Resource np{"networkpolicies", "/apis/networking.k8s.io/v1/networkpolicies", "NetworkPolicy", "networking.k8s.io/v1"};
  Sink sink;
  auto& to = sink.store;
  sources::upsert_object(tp, nlohmann::json::parse(R"({"apiVersion": "cilium.io/v1alpha1", "kind": "TracingPolicy",
      "metadata": {"name": "watch"}, "spec": {"tracepoints": [{"subsystem": "syscalls", "event": "sys_enter_openat"}]}})"),
                         to);
  sources::upsert_object(np,
                         {{"apiVersion", "networking.k8s.io/v1"},
                          {"kind", "NetworkPolicy"},
                          {"metadata", {{"name", "bad"}, {"namespace", "shop"}}},
                          {"spec", {{"podSelector", {}}, {"policyTypes", {"Sideways"}}}}},
                         to);
  EXPECT_EQ(sink.seen(), (std::vector<std::string>{"apply k8s:tracingpolicies/watch 1", "refuse k8s:networkpolicies/shop/bad"}));
  ASSERT_EQ(sink.store.list<tracing::TracingPolicy>().size(), 1u) << "stored as a TracingPolicy";
  EXPECT_EQ(sink.store.list<tracing::TracingPolicy>()[0].name, "watch");
}

}  // namespace
}  // namespace myelin::test
