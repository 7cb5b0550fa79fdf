// SPDX-License-Identifier: Apache-2.0
// PolicyManager publishing its snapshot, with the real policy maps (a pin
// root of the test's own): a regeneration publishes what it decided whole,
// endpoint changes publish at once, a reader holding an old snapshot keeps
// it, and while a regeneration holds PolicyManager's lock the flow path and
// the read functions answer from the snapshot (positive control: a reader
// that does take the lock is still waiting when they have all answered).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <future>

#include "agent/endpoint_manager.hpp"
#include "agent/flow_view.hpp"
#include "agent/policy_manager.hpp"
#include "metrics/agent_counters.hpp"
#include "myelin/datapath/datapath.hpp"
#include "myelin/ipam/ipam.hpp"
#include "myelin/log.hpp"
#include "myelin/pseudo_fs.hpp"

using namespace myelin;
using namespace std::chrono_literals;

namespace {

policy::NetworkPolicy allow_from_client(const std::string& name, uint16_t port) {
  policy::NetworkPolicy p;
  p.kind = "NetworkPolicy";
  p.ns = "shop";
  p.name = name;
  p.subject.match_labels = {{"app", "server"}};
  p.ingress_type = true;
  policy::Rule r;
  policy::Peer from;
  from.pods = policy::Selector{{{"app", "client"}}, {}};
  r.peers = {from};
  r.ports = {{6, port, 0, ""}};
  p.ingress.push_back(r);
  return p;
}

class Publication : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (loads BPF maps)";
    log::set_level(log::Level::warn);
    char tmpl[] = "/tmp/mln-publication-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    state_ = tmpl;
    pins_ = "/sys/fs/bpf/myelin/publication-test-" + std::to_string(getpid());
    ASSERT_TRUE(pseudofs::Mounts::ensure());
    ASSERT_TRUE(datapath::make_pin_dir(pins_));
    auto dp = datapath::Datapath::load({pins_, true, 4096, {}});
    ASSERT_TRUE(dp) << dp.error().message;
    dp_ = std::move(*dp);
    auto ipam = ipam::Ipam::open(*net::parse_cidr4("10.201.0.0/16"), state_ + "/ipam.json");
    auto store = endpoints::EndpointStore::open(state_ + "/endpoints.json");
    auto ids = identity::IdentityAllocator::open(state_ + "/identities.json");
    ASSERT_TRUE(ipam && store && ids);
    ipam_ = std::move(*ipam);
    store_ = std::move(*store);
    ids_ = std::move(*ids);
    endpoints_ = std::make_unique<agent::EndpointManager>(*dp_, *ipam_, *store_, *ids_, counters_);
    pm_ = std::make_unique<agent::PolicyManager>(*dp_, *endpoints_, *store_, *ids_, counters_, objects_, false, true);
    endpoints_->set_label_source([this](const std::string& ns, const std::string& pod) {
      if (hold_) hold_();
      return pm_->identity_labels(ns, pod);
    });
    endpoints_->set_on_change([this] { pm_->publish_endpoints(); });
    apply_file("pods.yaml", {policy::Namespace{"shop", {{"kubernetes.io/metadata.name", "shop"}}},
                                  policy::Pod{"shop", "server", {{"app", "server"}}, {}, {{"Deployment", "server"}}},
                                  policy::Pod{"shop", "client", {{"app", "client"}}, {}, {}}});
    apply_file("allow.yaml", {allow_from_client("allow-client", 80)});
    add_endpoint("server", 1);
    add_endpoint("client", 2);
  }
  void TearDown() override {
    pm_.reset();
    endpoints_.reset();
    dp_.reset();
    if (!pins_.empty()) (void)datapath::Datapath::unpin_all(pins_);
    if (!state_.empty()) std::filesystem::remove_all(state_);
  }

  // An endpoint as a CNI ADD leaves it (store, identity, endpoint map), without a veth.
  api::Endpoint add_endpoint(const std::string& pod, uint32_t n) {
    api::Endpoint ep;
    ep.set_container_id("c-" + pod);
    ep.set_ifname("eth0");
    ep.set_id(store_->next_id());
    ep.set_ip("10.201.0." + std::to_string(10 + n));
    ep.set_pod_namespace("shop");
    ep.set_pod_name(pod);
    auto labels = pm_->identity_labels("shop", pod);
    auto id = ids_->acquire(labels);
    EXPECT_TRUE(id);
    ep.set_identity(*id);
    for (const auto& l : labels) ep.add_labels(l);
    myelin_ep_key k{};
    k.family = MYELIN_FAMILY_IPV4;
    k.addr.w[0] = inet_addr(ep.ip().c_str());
    myelin_ep_info v{};
    v.ifindex = 1;
    v.ep_id = ep.id();
    v.identity = *id;
    v.flags = MYELIN_EP_F_READY;
    EXPECT_TRUE(dp_->endpoint_upsert(k, v));
    EXPECT_TRUE(store_->upsert(ep));
    return ep;
  }
  uint32_t id_of(const std::string& pod) const { return store_->get("c-" + pod, "eth0")->id(); }
  // The rule id the datapath would report for the server's ingress from the client.
  uint32_t rule_of(const agent::PolicySnapshot& s) const {
    const auto* p = s.endpoint_policy(id_of("server"));
    if (!p) return 0;
    for (const auto& e : p->entries)
      if (e.dir == MYELIN_DIR_INGRESS && e.policy) return e.policy;
    return 0;
  }
  myelin_flow_event forwarded(uint32_t rule) const {
    myelin_flow_event e{};
    e.family = MYELIN_FAMILY_IPV4;
    e.type = MYELIN_EVENT_TRACE;
    e.verdict = MYELIN_VERDICT_FORWARDED;
    e.direction = MYELIN_DIR_INGRESS;
    e.src_ep = id_of("client");
    e.dst_ep = id_of("server");
    e.ingress_policy_id = rule;
    return e;
  }

  std::string state_, pins_;
  std::unique_ptr<datapath::Datapath> dp_;
  std::unique_ptr<ipam::Ipam> ipam_;
  std::unique_ptr<endpoints::EndpointStore> store_;
  std::unique_ptr<identity::IdentityAllocator> ids_;
  metrics::AgentCounters counters_;
  std::unique_ptr<agent::EndpointManager> endpoints_;
  objects::ObjectStore objects_;  // outlives pm_, which subscribes to it
  std::unique_ptr<agent::PolicyManager> pm_;
  // Decoded objects as a source gives them, into the store pm_ follows.
  void apply_file(const std::string& source, std::vector<objects::Object> o) {
    objects::Decoded d;
    d.objects = std::move(o);
    objects_.apply(source, std::move(d));
  }
  std::function<void()> hold_;  // runs inside a regeneration, under PolicyManager's lock
};

TEST_F(Publication, ARegenerationPublishesWhatItDecidedWhole) {
  EXPECT_EQ(pm_->snapshot()->revision(), 0u);
  EXPECT_EQ(pm_->snapshot()->endpoint_policy(id_of("server")), nullptr);  // nothing published yet
  ASSERT_TRUE(pm_->regenerate());
  auto s = pm_->snapshot();
  EXPECT_EQ(s->revision(), pm_->revision());
  EXPECT_EQ(s->policy_count(), 1u);
  ASSERT_NE(s->endpoint(id_of("server")), nullptr);
  EXPECT_EQ(s->endpoint(id_of("server"))->pod_name, "server");
  EXPECT_EQ(s->endpoint("shop", "client")->id, id_of("client"));
  ASSERT_NE(s->endpoint_policy(id_of("server")), nullptr);
  EXPECT_TRUE(s->endpoint_policy(id_of("server"))->ingress_enforced);
  // Every rule id of the published policy resolves in the same snapshot.
  for (const auto& e : s->endpoint_policy(id_of("server"))->entries)
    if (e.policy) {
      ASSERT_TRUE(s->policy(e.policy)) << e.policy;
      EXPECT_EQ(s->policy(e.policy)->name, "allow-client");
    }
  ASSERT_EQ(s->selecting(id_of("server")).size(), 1u);
  // The decoder as myelind wires it names the endpoints, their workloads and the rule.
  auto decoder = agent::make_flow_decoder("node-1", *pm_);
  auto f = decoder.decode(forwarded(rule_of(*s)));
  EXPECT_EQ(f.destination().pod_name(), "server");
  ASSERT_EQ(f.destination().workloads_size(), 1);
  EXPECT_EQ(f.destination().workloads(0).name(), "server");
  EXPECT_EQ(f.source().pod_name(), "client");
  ASSERT_EQ(f.ingress_allowed_by_size(), 1);
  EXPECT_EQ(f.ingress_allowed_by(0).name(), "allow-client");
  EXPECT_FALSE(f.ingress_allowed_by(0).rule().empty());
}

TEST_F(Publication, AReaderHoldingTheOldSnapshotKeepsIt) {
  ASSERT_TRUE(pm_->regenerate());
  auto old = pm_->snapshot();
  const uint32_t old_rule = rule_of(*old);
  ASSERT_NE(old_rule, 0u);
  const auto old_entries = old->endpoint_policy(id_of("server"))->entries;
  apply_file("allow.yaml", {allow_from_client("allow-client-v2", 8080)});
  ASSERT_TRUE(pm_->regenerate());
  auto now = pm_->snapshot();
  EXPECT_EQ(now->revision(), old->revision() + 1);
  EXPECT_EQ(now->policy(rule_of(*now))->name, "allow-client-v2");
  EXPECT_NE(now->endpoint_policy(id_of("server"))->entries, old_entries);
  // The old one is as it was: its entries, its rule's name.
  EXPECT_EQ(old->endpoint_policy(id_of("server"))->entries, old_entries);
  EXPECT_EQ(old->policy(old_rule)->name, "allow-client");
  // Flows decoded now name the new rule; the old rule id is still known for
  // the regeneration after its last use (connections opened under it).
  auto decoder = agent::make_flow_decoder("node-1", *pm_);
  EXPECT_EQ(decoder.decode(forwarded(rule_of(*now))).ingress_allowed_by(0).name(), "allow-client-v2");
  EXPECT_EQ(decoder.decode(forwarded(old_rule)).ingress_allowed_by(0).name(), "allow-client");
}

TEST_F(Publication, EndpointChangesPublishAtOnce) {
  ASSERT_TRUE(pm_->regenerate());
  const uint64_t revision = pm_->snapshot()->revision();
  add_endpoint("cart", 3);  // in the store: not published until someone says so
  EXPECT_EQ(pm_->snapshot()->endpoint("shop", "cart"), nullptr);
  pm_->publish_endpoints();
  ASSERT_NE(pm_->snapshot()->endpoint("shop", "cart"), nullptr);
  EXPECT_EQ(pm_->snapshot()->revision(), revision);  // the same regeneration's policy
  EXPECT_NE(pm_->snapshot()->endpoint_policy(id_of("server")), nullptr);
  // EndpointManager's removal publishes through its change hook, no regeneration.
  const uint32_t cart = id_of("cart");
  ASSERT_TRUE(endpoints_->remove("c-cart", "eth0"));
  EXPECT_EQ(pm_->snapshot()->endpoint(cart), nullptr);
  EXPECT_NE(pm_->snapshot()->endpoint(id_of("server")), nullptr);
  EXPECT_EQ(pm_->snapshot()->revision(), revision);
}

TEST_F(Publication, TheFlowPathDoesNotWaitOnARegeneration) {
  ASSERT_TRUE(pm_->regenerate());
  const uint32_t rule = rule_of(*pm_->snapshot());
  // Hold the next regeneration inside, under PolicyManager's lock.
  std::mutex m;
  std::condition_variable cv;
  bool inside = false, release = false;
  hold_ = [&] {
    std::unique_lock lk(m);
    inside = true;
    cv.notify_all();
    cv.wait(lk, [&] { return release; });
  };
  apply_file("allow.yaml", {allow_from_client("allow-client-v2", 8080)});
  auto regeneration = std::async(std::launch::async, [&] { return pm_->regenerate().ok(); });
  {
    std::unique_lock lk(m);
    ASSERT_TRUE(cv.wait_for(lk, 30s, [&] { return inside; })) << "the regeneration never reached the label source";
  }
  // Positive control: a reader that takes the lock waits for the regeneration.
  // (The sources are read from the object store now; the installed entries
  // are still PolicyManager's, under its lock.)
  auto locked_reader = std::async(std::launch::async, [&] { return pm_->installed_entries(); });
  // The flow path and the snapshot's read functions answer meanwhile.
  auto flow_path = std::async(std::launch::async, [&] {
    auto decoder = agent::make_flow_decoder("node-1", *pm_);
    auto f = decoder.decode(forwarded(rule));
    return f.ingress_allowed_by_size() == 1 && f.ingress_allowed_by(0).name() == "allow-client" &&
           pm_->policy(rule).has_value() && pm_->endpoint_policy(id_of("server")).has_value() &&
           pm_->selecting(id_of("server")).size() == 1 && pm_->policy_count() == 1 &&
           pm_->ipblock_identity(inet_addr("10.201.0.11")) == 0;
  });
  const bool answered = flow_path.wait_for(30s) == std::future_status::ready;
  const bool control_waiting = locked_reader.wait_for(0s) != std::future_status::ready;
  {
    std::lock_guard lk(m);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(answered) << "the flow path waited on the regeneration";
  EXPECT_TRUE(flow_path.get()) << "the flow path answered from the old snapshot";
  EXPECT_TRUE(control_waiting) << "the regeneration did not hold the lock: the check above proves nothing";
  EXPECT_TRUE(regeneration.get());
  EXPECT_GT(locked_reader.get(), 0u) << "read after the regeneration: its entries";
  hold_ = nullptr;
  EXPECT_EQ(pm_->policy(rule_of(*pm_->snapshot()))->name, "allow-client-v2");  // published when it ended
}

}  // namespace
