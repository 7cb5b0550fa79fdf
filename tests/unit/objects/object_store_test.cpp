// SPDX-License-Identifier: Apache-2.0
// ObjectStore: what subscribers are told (added, updated, deleted per kind,
// refusals, changed, synced), the last good version of a refused source,
// and the same objects from a manifest file and from API JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "myelin/objects/object_store.hpp"

using namespace myelin;
using namespace myelin::objects;

namespace {

struct Recorder {
  std::vector<std::string> events;  // "added Pod shop/web (f.yaml)"
  std::vector<std::string> refusals;
  int changed = 0, synced = 0;
  ObjectStore::Subscriber subscriber(std::set<Kind> kinds) {
    ObjectStore::Subscriber s;
    s.kinds = std::move(kinds);
    s.on_event = [this](const Event& e) {
      const char* t = e.type == Event::Type::added ? "added" : e.type == Event::Type::updated ? "updated" : "deleted";
      events.push_back(std::string(t) + " " + info(e.key.kind).name + " " + (e.key.ns.empty() ? "" : e.key.ns + "/") + e.key.name + " (" +
                       e.key.source + ")");
    };
    s.on_refusal = [this](Part p, const std::string& source, const policy::Refusal* why) {
      refusals.push_back(std::string(p == Part::objects ? "objects " : "tracing ") + source + ": " + (why ? why->message() : "cleared"));
    };
    s.on_changed = [this] { ++changed; };
    s.on_synced = [this] { ++synced; };
    return s;
  }
};

std::string pod(const std::string& ns, const std::string& name, const std::string& labels) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: " + ns + ", labels: " + labels + "}\n";
}

const std::string kNp = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {podSelector: {}}\n";
const std::string kTp =
    "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: tp}\nspec:\n  tracepoints:\n"
    "  - {subsystem: syscalls, event: sys_enter_openat}\n";

}  // namespace

TEST(ObjectStore, AddUpdateDeletePerKindToThoseSubscribed) {
  ObjectStore store;
  Recorder pods, all;
  store.subscribe(pods.subscriber({Kind::pod}));
  store.subscribe(all.subscriber({Kind::pod, Kind::network_policy, Kind::namespace_}));
  store.apply_text("f.yaml", pod("shop", "web", "{app: web}") + "---\n" + kNp);
  EXPECT_EQ(pods.events, std::vector<std::string>{"added Pod shop/web (f.yaml)"});
  EXPECT_EQ(all.events, (std::vector<std::string>{"added Pod shop/web (f.yaml)", "added NetworkPolicy shop/deny (f.yaml)"}));
  store.apply_text("f.yaml", pod("shop", "web", "{app: web, tier: front}"));
  EXPECT_EQ(all.events.back(), "updated Pod shop/web (f.yaml)");
  EXPECT_EQ(all.events[all.events.size() - 2], "deleted NetworkPolicy shop/deny (f.yaml)");  // deletions come first
  store.remove("f.yaml");
  EXPECT_EQ(pods.events.back(), "deleted Pod shop/web (f.yaml)");
  EXPECT_EQ(pods.events.size(), 3u);
  EXPECT_EQ(store.size(), 0u);
  EXPECT_TRUE(store.sources().empty());
}

TEST(ObjectStore, UpdateCarriesTheOldObjectAndAPodMovingNamespaceIsDeleteThenAdd) {
  ObjectStore store;
  std::vector<std::pair<policy::Labels, policy::Labels>> updates;  // (old, new)
  std::vector<std::string> seen;
  ObjectStore::Subscriber s;
  s.kinds = {Kind::pod};
  s.on_event = [&](const Event& e) {
    seen.push_back(std::to_string(static_cast<int>(e.type)) + ":" + e.key.ns);
    if (e.type == Event::Type::updated) updates.emplace_back(std::get<policy::Pod>(*e.old).labels, std::get<policy::Pod>(e.object).labels);
  };
  store.subscribe(std::move(s));
  store.apply_text("p.yaml", pod("a", "web", "{v: '1'}"));
  store.apply_text("p.yaml", pod("a", "web", "{v: '2'}"));
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].first.at("v"), "1");
  EXPECT_EQ(updates[0].second.at("v"), "2");
  store.apply_text("p.yaml", pod("b", "web", "{v: '2'}"));
  EXPECT_EQ(seen, (std::vector<std::string>{"0:a", "1:a", "2:a", "0:b"}));
  const auto pods = store.list<policy::Pod>();
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].ns, "b");
}

TEST(ObjectStore, ARefusedChangeKeepsTheLastGoodVersionAndIsListedByParts) {
  ObjectStore store;
  Recorder r;
  store.subscribe(r.subscriber({Kind::pod}));
  store.apply_text("p.yaml", pod("shop", "web", "{app: web}"));
  store.apply_text("p.yaml", pod("shop", "web", "{app: web}") + "spec: {containers: 3}\n");
  ASSERT_EQ(r.refusals.size(), 1u);
  EXPECT_EQ(r.refusals[0].rfind("objects p.yaml: p.yaml:4: spec.containers: must be a list", 0), 0u) << r.refusals[0];
  EXPECT_EQ(r.events.size(), 1u);  // nothing changed
  auto states = store.sources();
  ASSERT_EQ(states.size(), 1u);
  EXPECT_FALSE(states[0].ok);
  EXPECT_EQ(states[0].objects, 1u);
  EXPECT_TRUE(states[0].refusal.last_good_in_force);
  EXPECT_EQ(states[0].refusal.line, 4);
  EXPECT_EQ(states[0].refusal.field, "spec.containers");
  EXPECT_EQ(states[0].refusal.kind, "Pod");
  EXPECT_EQ(store.list<policy::Pod>().size(), 1u);
  // Fixed: the refusal is cleared, and the object updated.
  store.apply_text("p.yaml", pod("shop", "web", "{app: web2}"));
  EXPECT_EQ(r.refusals.back(), "objects p.yaml: cleared");
  EXPECT_EQ(r.events.back(), "updated Pod shop/web (p.yaml)");
  EXPECT_TRUE(store.sources()[0].ok);
  // A source refused before it ever decoded: nothing in force.
  store.refuse("new.yaml", policy::Refusal{"new.yaml", 0, "", "larger than 16 MiB: not read"});
  auto st = store.sources();
  ASSERT_EQ(st.size(), 2u);
  EXPECT_FALSE(st[0].refusal.last_good_in_force);
  EXPECT_EQ(st[0].error, "new.yaml: larger than 16 MiB: not read");
}

TEST(ObjectStore, TracingPoliciesAreAPartRefusedApart) {
  ObjectStore store;
  Recorder r;
  store.subscribe(r.subscriber({Kind::tracing_policy, Kind::network_policy}));
  store.apply_text("t.yaml", kNp + "---\n" + kTp);
  EXPECT_EQ(r.events, (std::vector<std::string>{"added NetworkPolicy shop/deny (t.yaml)", "added TracingPolicy tp (t.yaml)"}));
  // A bad TracingPolicy: the network part changes, the tracing part is refused (its last version stays).
  store.apply_text("t.yaml", kTp + "  - {subsystem: syscalls, event: sys_enter_openat, bogus: 1}\n");
  EXPECT_EQ(r.events.back(), "deleted NetworkPolicy shop/deny (t.yaml)");
  ASSERT_EQ(r.refusals.size(), 1u);
  EXPECT_EQ(r.refusals[0].rfind("tracing t.yaml: t.yaml:7: spec.tracepoints[1].bogus", 0), 0u) << r.refusals[0];
  EXPECT_EQ(store.list<tracing::TracingPolicy>().size(), 1u);
  EXPECT_TRUE(store.sources(Part::objects)[0].ok);
  EXPECT_FALSE(store.sources(Part::tracing)[0].ok);
  EXPECT_TRUE(store.sources(Part::tracing)[0].refusal.last_good_in_force);
  store.remove("t.yaml");
  EXPECT_EQ(r.refusals.back(), "tracing t.yaml: cleared");
  EXPECT_EQ(r.events.back(), "deleted TracingPolicy tp (t.yaml)");
  EXPECT_TRUE(store.sources(Part::tracing).empty());
}

TEST(ObjectStore, SyncedOnceEverySourceHasSynced) {
  ObjectStore store;
  Recorder r;
  store.subscribe(r.subscriber({}));
  const size_t files = store.add_source("manifests"), api = store.add_source("k8s");
  store.synced(files);
  store.changed();
  EXPECT_EQ(r.synced, 0);
  EXPECT_FALSE(store.all_synced());
  EXPECT_EQ(r.changed, 1);
  store.synced(api);
  EXPECT_EQ(r.synced, 1);
  EXPECT_TRUE(store.all_synced());
  store.synced(api);  // a re-list
  store.synced(files);
  EXPECT_EQ(r.synced, 1);
  Recorder late;  // a subscriber that comes after is told too
  store.subscribe(late.subscriber({}));
  EXPECT_EQ(late.synced, 1);
}

TEST(ObjectStore, TheSameObjectsFromAManifestAndFromApiJson) {
  ObjectStore store;
  Recorder r;
  store.subscribe(r.subscriber({Kind::service, Kind::endpoint_slice, Kind::node}));
  store.apply_text("svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {ports: [{port: 80}]}\n");
  // As KubeSource gives an API object: its JSON, pretty-printed, as the text.
  const auto svc = nlohmann::json::parse(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"api","namespace":"shop"},
    "spec":{"clusterIP":"10.96.0.1","ports":[{"port":443,"targetPort":6443}]}})");
  const auto node = nlohmann::json::parse(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"},
    "spec":{"podCIDR":"10.244.1.0/24"},"status":{"addresses":[{"type":"InternalIP","address":"192.168.0.1"}]}})");
  const auto slice = nlohmann::json::parse(R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
    "metadata":{"name":"api-1","namespace":"shop","labels":{"kubernetes.io/service-name":"api"}},"addressType":"IPv4",
    "endpoints":[{"addresses":["10.244.1.9"],"conditions":{"ready":true}}],"ports":[{"port":6443}]})");
  store.apply_text("k8s:services/shop/api", svc.dump(2));
  store.apply_text("k8s:nodes/n1", node.dump(2));
  store.apply_text("k8s:endpointslices/shop/api-1", slice.dump(2));
  EXPECT_EQ(r.events, (std::vector<std::string>{"added Service shop/web (svc.yaml)", "added Service shop/api (k8s:services/shop/api)",
                                                "added Node n1 (k8s:nodes/n1)", "added EndpointSlice shop/api-1 (k8s:endpointslices/shop/api-1)"}));
  const auto services = store.list<Service>();
  ASSERT_EQ(services.size(), 2u);
  EXPECT_EQ(services[0].name, "api");  // source order: k8s:... sorts before svc.yaml
  EXPECT_EQ(services[0].ports[0].target.number, 6443);
  EXPECT_EQ(services[1].ports[0].target.number, 80);
  EXPECT_EQ(store.list<Node>().at(0).internal_ips.at(0), "192.168.0.1");
  EXPECT_EQ(store.list<EndpointSlice>().at(0).service, "api");
  // A refused API object names its source and a line of the pretty-printed JSON.
  auto bad = svc;
  bad["spec"]["ports"][0]["port"] = 0;
  store.apply_text("k8s:services/shop/api", bad.dump(2));
  ASSERT_FALSE(r.refusals.empty());
  EXPECT_NE(r.refusals.back().find("k8s:services/shop/api:"), std::string::npos) << r.refusals.back();
  EXPECT_NE(r.refusals.back().find(": spec.ports[0].port: must be a port number"), std::string::npos) << r.refusals.back();
  EXPECT_EQ(store.list<Service>().size(), 2u);  // its last good version stays
}

TEST(ObjectStore, SubscribeReplaysWhatIsStored) {
  ObjectStore store;
  store.apply_text("a.yaml", pod("shop", "web", "{app: web}") + "---\n" + kTp);
  store.apply_text("b.yaml", "kind: [\n");
  Recorder r;
  store.subscribe(r.subscriber({Kind::pod, Kind::tracing_policy}));
  EXPECT_EQ(r.events, (std::vector<std::string>{"added Pod shop/web (a.yaml)", "added TracingPolicy tp (a.yaml)"}));
  ASSERT_EQ(r.refusals.size(), 2u);  // a syntax error refuses both parts
  EXPECT_EQ(r.refusals[0].rfind("objects b.yaml: b.yaml:", 0), 0u);
  EXPECT_EQ(r.refusals[1].rfind("tracing b.yaml: b.yaml:", 0), 0u);
}

TEST(ObjectStore, TheSameNameTwiceInOneSourceIsTwoObjects) {
  ObjectStore store;
  Recorder r;
  store.subscribe(r.subscriber({Kind::pod}));
  store.apply_text("d.yaml", pod("shop", "web", "{v: a}") + "---\n" + pod("shop", "web", "{v: b}"));
  EXPECT_EQ(r.events.size(), 2u);
  EXPECT_EQ(store.list<policy::Pod>().size(), 2u);
  store.apply_text("d.yaml", pod("shop", "web", "{v: a}"));
  EXPECT_EQ(r.events.back(), "updated Pod shop/web (d.yaml)");
  EXPECT_EQ(r.events[2], "deleted Pod shop/web (d.yaml)");
}

TEST(ObjectStore, UnsubscribedHearsNothing) {
  ObjectStore store;
  Recorder r;
  const auto id = store.subscribe(r.subscriber({Kind::pod}));
  store.apply_text("p.yaml", pod("shop", "web", "{}"));
  store.unsubscribe(id);
  store.remove("p.yaml");
  store.changed();
  EXPECT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.changed, 0);
}
