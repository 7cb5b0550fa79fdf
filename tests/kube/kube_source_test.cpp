// SPDX-License-Identifier: Apache-2.0
// KubeSource against the stand-in API server: every object reaches the sink
// named "k8s:<resource>/<ns>/<name>" before the first regeneration, which
// waits until every resource has been listed or found not served (a missing
// CRD); an API server that cannot be listed is an error naming what, and
// never a regeneration from a half-synced cache. upsert_object on its own:
// a TracingPolicy goes to the text consumer, a bad object is refused.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "sources/kube_source.hpp"
#include "standin.hpp"

namespace myelin::test {
namespace {

using namespace std::chrono_literals;

struct Sink {
  std::mutex mu;
  std::vector<std::string> log;  // "apply <source> <n>", "refuse <source>", "remove <source>", "text <source>", "changed"
  sources::ManifestSource::Sink sink() {
    auto add = [this](std::string s) {
      std::lock_guard lk(mu);
      log.push_back(std::move(s));
    };
    return {[add](const std::string& f, std::vector<policy::Object> o) { add("apply " + f + " " + std::to_string(o.size())); },
            [add](const std::string& f, policy::Refusal) { add("refuse " + f); }, [add](const std::string& f) { add("remove " + f); },
            [add] { add("changed"); }, [add](const std::string& f, const std::string* t) { add((t ? "text " : "text-gone ") + f); }};
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
  sources::KubeSource source(*cfg, sink.sink(), nullptr, fast());
  auto s = source.start(20s);
  ASSERT_TRUE(s) << s.error().message;
  const auto seen = sink.seen_after("changed");
  const long changed = position(seen, "changed");
  ASSERT_GE(changed, 0) << "synced: a regeneration";
  for (const char* obj : {"apply k8s:namespaces/shop 1", "apply k8s:pods/shop/frontend-7c9d8b6f5d-x2x4k 1",
                          "apply k8s:networkpolicies/shop/frontend-ingress 1",
                          "apply k8s:ciliumnetworkpolicies/shop/deny-metadata-egress 1"}) {
    const long at = position(seen, obj);
    EXPECT_GE(at, 0) << obj << " reached the sink";
    EXPECT_LT(at, changed) << obj << " before the first regeneration: policy is never computed from a half-synced cache";
  }
  source.stop();
}

TEST(KubeSource, AnApiServerThatCannotBeListedIsAnErrorAndNoRegeneration) {
  StandinApiServer api{{{MYELIN_KUBE_TESTDATA}, {}, 0.2}};
  auto cfg = kube::load_kubeconfig(api.kubeconfig_with_token("not-the-token"));
  ASSERT_TRUE(cfg) << cfg.error().message;
  Sink sink;
  sources::KubeSource source(*cfg, sink.sink(), nullptr, fast());
  auto s = source.start(3s);
  ASSERT_FALSE(s) << "nothing could be listed";
  EXPECT_NE(s.error().message.find("could not list namespaces"), std::string::npos) << s.error().message;
  source.stop();
  EXPECT_EQ(position(sink.seen(), "changed"), -1) << "no regeneration from an empty cache";
}

TEST(KubeSourceObjects, ATracingPolicyGoesToTheTextConsumerAndABadObjectIsRefused) {
  const kube::Resource tp{"tracingpolicies", "/apis/cilium.io/v1alpha1/tracingpolicies", "TracingPolicy", "cilium.io/v1alpha1"};
  const kube::Resource np{"networkpolicies", "/apis/networking.k8s.io/v1/networkpolicies", "NetworkPolicy", "networking.k8s.io/v1"};
  Sink sink;
  const auto to = sink.sink();
  sources::upsert_object(tp, {{"apiVersion", "cilium.io/v1alpha1"}, {"kind", "TracingPolicy"}, {"metadata", {{"name", "watch"}}}}, to);
  sources::upsert_object(np,
                         {{"apiVersion", "networking.k8s.io/v1"},
                          {"kind", "NetworkPolicy"},
                          {"metadata", {{"name", "bad"}, {"namespace", "shop"}}},
                          {"spec", {{"podSelector", {}}, {"policyTypes", {"Sideways"}}}}},
                         to);
  EXPECT_EQ(sink.seen(), (std::vector<std::string>{"text k8s:tracingpolicies/watch", "refuse k8s:networkpolicies/shop/bad"}));
}

}  // namespace
}  // namespace myelin::test
