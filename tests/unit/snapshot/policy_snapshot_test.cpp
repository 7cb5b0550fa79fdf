// SPDX-License-Identifier: Apache-2.0
// PolicySnapshot and its publication: lookups, attribution (Hubble's
// allowed_by / denied_by) from one snapshot, readers that keep an old
// snapshot while a new one is published, and decoders racing a publisher
// that only ever see one snapshot whole.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "agent/policy_snapshot.hpp"

using namespace myelin;
using agent::PolicyRef;
using agent::PolicySnapshot;
using agent::PolicyState;
using agent::Published;
using agent::SnapshotEndpoint;

namespace {

SnapshotEndpoint endpoint(uint32_t id, uint32_t identity, std::string ns, std::string pod, std::string ip) {
  SnapshotEndpoint e;
  e.id = id;
  e.identity = identity;
  e.ns = std::move(ns);
  e.pod_name = std::move(pod);
  e.ip = std::move(ip);
  e.labels = {"k8s:app=" + e.pod_name};
  e.workloads = {{"Deployment", e.pod_name}};
  return e;
}

// Endpoint 11 (shop/frontend) is selected by policies 1 and 2; rule 7 is
// policy 1's ingress rule, rule 8 policy 2's egress rule.
std::shared_ptr<PolicyState> state(uint64_t revision, const std::string& tag = "") {
  auto s = std::make_shared<PolicyState>();
  s->revision = revision;
  s->policy_count = 2;
  s->refs[1] = {"NetworkPolicy", "shop", "allow-web" + tag, ""};
  s->refs[2] = {"CiliumNetworkPolicy", "shop", "egress" + tag, ""};
  s->refs[7] = {"NetworkPolicy", "shop", "allow-web" + tag, "ingress[0] from app=web port 80/TCP"};
  s->refs[8] = {"CiliumNetworkPolicy", "shop", "egress" + tag, "egress[0] to app=db"};
  auto p = std::make_shared<policy::EndpointPolicy>();
  p->ingress_enforced = p->egress_enforced = true;
  p->selected_by = {1, 2};
  s->endpoint_policies[11] = p;
  s->cidrs = {{*net::parse_cidr4("10.0.0.0/8"), 300}, {*net::parse_cidr4("10.1.0.0/16"), 301}};
  s->host_ipblock[inet_addr("10.1.2.3")] = 302;
  return s;
}

std::shared_ptr<const PolicySnapshot> snapshot(uint64_t revision = 1, const std::string& tag = "") {
  return std::make_shared<const PolicySnapshot>(
      state(revision, tag), std::vector<SnapshotEndpoint>{endpoint(11, 256, "shop", "frontend", "10.200.0.11"),
                                                          endpoint(12, 257, "", "db", "10.200.0.12")});
}

myelin_flow_event ev(uint8_t verdict, uint8_t dir, uint32_t drop_reason = 0) {
  myelin_flow_event e{};
  e.family = MYELIN_FAMILY_IPV4;
  e.verdict = verdict;
  e.direction = dir;
  e.drop_reason = drop_reason;
  e.src_ep = 12;
  e.dst_ep = 11;
  return e;
}

std::vector<std::string> names(const google::protobuf::RepeatedPtrField<flow::Policy>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(p.kind() + " " + p.namespace_() + "/" + p.name() + (p.rule().empty() ? "" : ": " + p.rule()));
  return out;
}

}  // namespace

TEST(PolicySnapshot, EmptyKnowsNothing) {
  PolicySnapshot s;
  EXPECT_EQ(s.revision(), 0u);
  EXPECT_EQ(s.policy_count(), 0u);
  EXPECT_EQ(s.endpoint(11), nullptr);
  EXPECT_EQ(s.endpoint("shop", "frontend"), nullptr);
  EXPECT_EQ(s.endpoint_policy(11), nullptr);
  EXPECT_FALSE(s.policy(7));
  EXPECT_TRUE(s.selecting(11).empty());
  EXPECT_EQ(s.ipblock_identity(inet_addr("10.1.2.3")), 0u);
  flow::Flow f;
  s.annotate(ev(MYELIN_VERDICT_FORWARDED, MYELIN_DIR_INGRESS), f);
  EXPECT_EQ(f.ingress_allowed_by_size() + f.egress_allowed_by_size(), 0);
}

TEST(PolicySnapshot, EndpointsByIdAndByName) {
  auto s = snapshot();
  ASSERT_NE(s->endpoint(11), nullptr);
  EXPECT_EQ(s->endpoint(11)->pod_name, "frontend");
  EXPECT_EQ(s->endpoint(11)->ip, "10.200.0.11");
  EXPECT_EQ(s->endpoint("shop", "frontend"), s->endpoint(11));
  // An endpoint without a namespace is in "default", found either way.
  ASSERT_NE(s->endpoint("default", "db"), nullptr);
  EXPECT_EQ(s->endpoint("default", "db")->id, 12u);
  EXPECT_EQ(s->endpoint("", "db"), s->endpoint("default", "db"));
  EXPECT_EQ(s->endpoint("shop", "db"), nullptr);
  EXPECT_EQ(s->endpoint(13), nullptr);
  // A pod with a second interface: by name, its first endpoint, as policy trace always found it.
  PolicySnapshot two(state(1), {endpoint(11, 256, "shop", "frontend", "10.200.0.11"),
                                endpoint(14, 256, "shop", "frontend", "10.200.1.11")});
  EXPECT_EQ(two.endpoint("shop", "frontend")->id, 11u);
  EXPECT_EQ(two.endpoint(14)->ip, "10.200.1.11");
  ASSERT_NE(s->endpoint_policy(11), nullptr);
  EXPECT_TRUE(s->endpoint_policy(11)->ingress_enforced);
  EXPECT_EQ(s->endpoint_policy(12), nullptr);
  EXPECT_EQ(s->policy_count(), 2u);
  ASSERT_TRUE(s->policy(7));
  EXPECT_EQ(s->policy(7)->rule, "ingress[0] from app=web port 80/TCP");
  EXPECT_FALSE(s->policy(9));
}

TEST(PolicySnapshot, IpblockIdentityAsTheLpmLookup) {
  auto s = snapshot();
  EXPECT_EQ(s->ipblock_identity(inet_addr("10.9.9.9")), 300u);   // only the /8 holds it
  EXPECT_EQ(s->ipblock_identity(inet_addr("10.1.9.9")), 301u);   // the longest, /16
  EXPECT_EQ(s->ipblock_identity(inet_addr("10.1.2.3")), 302u);   // a node address: its own entry
  EXPECT_EQ(s->ipblock_identity(inet_addr("192.168.0.1")), 0u);  // none
}

TEST(PolicySnapshot, AttributionForwardedNamesBothRules) {
  auto s = snapshot();
  auto e = ev(MYELIN_VERDICT_FORWARDED, MYELIN_DIR_INGRESS);
  e.ingress_policy_id = 7;
  e.egress_policy_id = 8;
  flow::Flow f;
  s->annotate(e, f);
  EXPECT_EQ(names(f.ingress_allowed_by()),
            std::vector<std::string>{"NetworkPolicy shop/allow-web: ingress[0] from app=web port 80/TCP"});
  EXPECT_EQ(names(f.egress_allowed_by()), std::vector<std::string>{"CiliumNetworkPolicy shop/egress: egress[0] to app=db"});
  EXPECT_EQ(f.ingress_denied_by_size() + f.egress_denied_by_size(), 0);
  // A rule id the snapshot does not know (forgotten two regenerations ago) names nothing.
  e.ingress_policy_id = 99;
  e.egress_policy_id = 0;
  flow::Flow g;
  s->annotate(e, g);
  EXPECT_EQ(g.ingress_allowed_by_size() + g.egress_allowed_by_size(), 0);
}

TEST(PolicySnapshot, AttributionDenyRuleAndDefaultDeny) {
  auto s = snapshot();
  auto deny = ev(MYELIN_VERDICT_DROPPED, MYELIN_DIR_INGRESS, MYELIN_DROP_POLICY_DENY);
  deny.ingress_policy_id = 7;
  flow::Flow f;
  s->annotate(deny, f);
  EXPECT_EQ(names(f.ingress_denied_by()),
            std::vector<std::string>{"NetworkPolicy shop/allow-web: ingress[0] from app=web port 80/TCP"});
  // Default deny at the destination's ingress: every policy selecting it.
  flow::Flow g;
  s->annotate(ev(MYELIN_VERDICT_DROPPED, MYELIN_DIR_INGRESS, MYELIN_DROP_POLICY_DENIED), g);
  EXPECT_EQ(names(g.ingress_denied_by()),
            (std::vector<std::string>{"NetworkPolicy shop/allow-web", "CiliumNetworkPolicy shop/egress"}));
  // At the source's egress it is the source's policies: endpoint 12 has none.
  flow::Flow h;
  s->annotate(ev(MYELIN_VERDICT_DROPPED, MYELIN_DIR_EGRESS, MYELIN_DROP_POLICY_DENIED), h);
  EXPECT_EQ(h.egress_denied_by_size() + h.ingress_denied_by_size(), 0);
  auto out = ev(MYELIN_VERDICT_AUDIT, MYELIN_DIR_EGRESS, MYELIN_DROP_POLICY_DENIED);
  std::swap(out.src_ep, out.dst_ep);  // 11 sends
  flow::Flow a;
  s->annotate(out, a);
  EXPECT_EQ(a.egress_denied_by_size(), 2);  // audit: what would have denied it
  // A drop that is not policy's names no policy.
  flow::Flow other;
  s->annotate(ev(MYELIN_VERDICT_DROPPED, MYELIN_DIR_INGRESS, MYELIN_DROP_INVALID_SOURCE_IP), other);
  EXPECT_EQ(other.ingress_denied_by_size(), 0);
}

TEST(Published, ReadersKeepTheSnapshotTheyLoaded) {
  Published<PolicySnapshot> current(snapshot(1, "-v1"));
  auto held = current.load();
  std::weak_ptr<const PolicySnapshot> watch = held;
  current.publish(snapshot(2, "-v2"));
  // The new one is what the next reader gets...
  EXPECT_EQ(current.load()->revision(), 2u);
  EXPECT_EQ(current.load()->policy(7)->name, "allow-web-v2");
  // ...and the reader still holding the old one reads it unchanged, whole.
  EXPECT_EQ(held->revision(), 1u);
  EXPECT_EQ(held->policy(7)->name, "allow-web-v1");
  EXPECT_EQ(held->selecting(11).front().name, "allow-web-v1");
  ASSERT_NE(held->endpoint(11), nullptr);
  EXPECT_EQ(held->endpoint(11)->pod_name, "frontend");
  // The old one lives exactly as long as its last reader.
  EXPECT_FALSE(watch.expired());
  held.reset();
  EXPECT_TRUE(watch.expired());
}

TEST(Published, SharesThePolicyOfARegenerationAcrossEndpointChanges) {
  // An endpoint change publishes the same regeneration's policy with the new endpoints.
  auto s1 = snapshot(4);
  auto s2 = std::make_shared<const PolicySnapshot>(
      s1->policy_state(), std::vector<SnapshotEndpoint>{endpoint(11, 256, "shop", "frontend", "10.200.0.11"),
                                                         endpoint(13, 258, "shop", "cart", "10.200.0.13")});
  EXPECT_EQ(s2->policy_state(), s1->policy_state());
  EXPECT_EQ(s2->revision(), 4u);
  EXPECT_NE(s2->endpoint(13), nullptr);
  EXPECT_EQ(s2->endpoint(12), nullptr);
  EXPECT_NE(s1->endpoint(12), nullptr);
  EXPECT_EQ(s2->endpoint_policy(11), s1->endpoint_policy(11));
}

TEST(FlowDecoder, NamesEndpointsAndPolicyFromTheSnapshot) {
  Published<PolicySnapshot> current(snapshot(1));
  flows::FlowDecoder d("node-1", [&] { return std::shared_ptr<const flows::FlowView>(current.load()); },
                       [](uint32_t) { return std::string("lxc0"); });
  auto e = ev(MYELIN_VERDICT_FORWARDED, MYELIN_DIR_INGRESS);
  e.type = MYELIN_EVENT_TRACE;
  e.src_identity = 9;
  e.dst_identity = 9;
  e.ingress_policy_id = 7;
  auto f = d.decode(e);
  EXPECT_EQ(f.destination().id(), 11u);
  EXPECT_EQ(f.destination().identity(), 256u);  // the endpoint's, over the event's
  EXPECT_EQ(f.destination().namespace_(), "shop");
  EXPECT_EQ(f.destination().pod_name(), "frontend");
  ASSERT_EQ(f.destination().labels_size(), 1);
  EXPECT_EQ(f.destination().labels(0), "k8s:app=frontend");
  ASSERT_EQ(f.destination().workloads_size(), 1);
  EXPECT_EQ(f.destination().workloads(0).kind(), "Deployment");
  EXPECT_EQ(f.source().pod_name(), "db");
  EXPECT_EQ(f.source().namespace_(), "");
  EXPECT_EQ(names(f.ingress_allowed_by()),
            std::vector<std::string>{"NetworkPolicy shop/allow-web: ingress[0] from app=web port 80/TCP"});
  // An endpoint the snapshot does not know keeps the event's id and identity.
  e.dst_ep = 42;
  auto g = d.decode(e);
  EXPECT_EQ(g.destination().id(), 42u);
  EXPECT_EQ(g.destination().identity(), 9u);
  EXPECT_EQ(g.destination().pod_name(), "");
}

// Decoders race a publisher: every decoded flow names one generation in
// all of its parts (endpoint names, labels, the allowing rule, the policies
// selecting the peer), and a reader never goes back to an older one.
TEST(Published, DecodersRacingAPublisherSeeOneSnapshotWhole) {
  auto gen = [](uint32_t g) {
    auto s = std::make_shared<PolicyState>();
    s->revision = g;
    const std::string tag = std::to_string(g);
    s->refs[7] = {"NetworkPolicy", "shop", "p" + tag, "rule" + tag};
    auto src = endpoint(11, 256, "shop", "client" + tag, "10.200.0.11");
    auto dst = endpoint(12, 257, "shop", "server" + tag, "10.200.0.12");
    return std::make_shared<const PolicySnapshot>(s, std::vector<SnapshotEndpoint>{src, dst});
  };
  Published<PolicySnapshot> current(gen(0));
  flows::FlowDecoder d("node-1", [&] { return std::shared_ptr<const flows::FlowView>(current.load()); }, {});
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> decoded{0}, torn{0}, backwards{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r)
    readers.emplace_back([&] {
      myelin_flow_event e = ev(MYELIN_VERDICT_FORWARDED, MYELIN_DIR_INGRESS);
      e.src_ep = 11;
      e.dst_ep = 12;
      e.ingress_policy_id = 7;
      long last = -1;
      while (!stop) {
        auto f = d.decode(e);
        const std::string tag = f.source().pod_name().substr(6);  // "client<g>"
        if (f.destination().pod_name() != "server" + tag || f.source().labels(0) != "k8s:app=client" + tag ||
            f.ingress_allowed_by_size() != 1 || f.ingress_allowed_by(0).name() != "p" + tag ||
            f.ingress_allowed_by(0).rule() != "rule" + tag)
          ++torn;
        const long g = std::stol(tag);
        if (g < last) ++backwards;
        last = g;
        ++decoded;
      }
    });
  uint32_t published = 0;
  // Publish for a bounded time, but at least until the readers decoded a good many flows.
  for (auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
       std::chrono::steady_clock::now() < until || decoded < 20000;)
    current.publish(gen(++published));
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(published, 100u);
  EXPECT_GE(decoded.load(), 20000u);
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(backwards.load(), 0u);
}
