// SPDX-License-Identifier: Apache-2.0
// PolicyManager's diff install, read back from the real policy maps: the
// datapath is loaded (nothing attached) with its maps pinned under a
// per-test bpffs directory, endpoints are seeded into the store and the
// endpoint map as the CNI ADD would leave them, policies come as decoded
// manifests. Each change of policy must write exactly its difference
// (counted per map and operation, as myelin_bpf_map_ops_total counts them),
// an unchanged regeneration writes nothing, and what is in the maps is what
// the policies say. Root is needed to load BPF (skipped otherwise).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>
#include <string>

#include "policy_on_maps.hpp"

namespace myelin::agent {
namespace {

constexpr const char* kWebIp = "10.200.0.5";
constexpr const char* kClientIp = "10.200.0.6";

const char* kPods = R"(apiVersion: v1
kind: Namespace
metadata: {name: prod}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: prod, labels: {app: web}}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: prod, labels: {app: client}}
)";

std::string allow_web_from_client(int port) {
  return R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-in, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{protocol: TCP, port: )" +
         std::to_string(port) + "}]\n";
}

const char* kDenyClientUdp = R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: no-udp, namespace: prod}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingressDeny:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts: [{ports: [{port: "53", protocol: UDP}]}]
)";

// A manifest as a source gives it: into the object store PolicyManager follows.
void apply(objects::ObjectStore& store, const std::string& file, const std::string& text) {
  store.apply_text(file, text);
  for (const auto& s : store.sources())
    if (s.file == file && !s.ok) ADD_FAILURE() << file << " refused: " << s.error;
}

// One policy map entry, readable in a failure message.
std::string entry(const myelin_policy_key& k, const myelin_policy_val& v) {
  return "ep " + std::to_string(k.ep_id) + (k.dir == MYELIN_DIR_INGRESS ? " ingress" : " egress") + " proto " +
         std::to_string(k.proto) + " from " + std::to_string(k.identity) + " port " + std::to_string(ntohs(k.dport)) + " prefixlen " +
         std::to_string(k.prefixlen) + (v.flags & MYELIN_POLICY_F_AUDIT ? " audit" : "");
}
std::string key_of(uint32_t ep, uint8_t dir, uint8_t proto, uint32_t identity, uint16_t port) {
  return entry(datapath::policy_key(ep, dir, proto, identity, port, port ? 16 : 0), myelin_policy_val{});
}

class PolicyInstall : public testing::PolicyOnMaps {
 protected:
  PolicyInstall() : PolicyOnMaps("policy-install", "10.200.0.0/24") {}
  void SetUp() override {
    PolicyOnMaps::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    web_ = add_endpoint("web", kWebIp);
    client_ = add_endpoint("client", kClientIp);
  }

  uint32_t identity_of(uint32_t ep) const { return store_->get_by_id(ep)->identity(); }
  myelin_ep_info ep_info(const char* ip) const { return *dp_->endpoint_get(ep_key(ip)); }

  std::set<std::string> entries(bool deny) const {
    std::set<std::string> out;
    const int fd = dp_->map_fd(deny ? MYELIN_MAP_POL_DENY : MYELIN_MAP_POL_ALLOW);
    myelin_policy_key k{}, next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      myelin_policy_val v{};
      if (bpf_map_lookup_elem(fd, &next, &v) == 0) out.insert(entry(next, v));
      k = next;
      prev = &k;
    }
    return out;
  }
  // Policy map writes issued so far: updates and deletes of both maps.
  std::pair<uint64_t, uint64_t> writes(bool deny) const {
    uint64_t up = 0, del = 0;
    for (const auto& [k, n] : counters_.map_ops())
      if (std::get<0>(k) == (deny ? MYELIN_MAP_POL_DENY : MYELIN_MAP_POL_ALLOW)) (std::get<1>(k) == "update" ? up : del) += n;
    return {up, del};
  }
  void regenerate() { ASSERT_TRUE(pm_->regenerate()) << "regeneration failed"; }

  uint32_t web_ = 0, client_ = 0;
};

TEST_F(PolicyInstall, WritesWhatThePolicySaysAndOnlyTheDifferenceOfAChange) {
  apply(objects_, "pods.yaml", kPods);
  regenerate();
  EXPECT_TRUE(entries(false).empty()) << "no policy: nothing in the allow map";
  EXPECT_FALSE(ep_info(kWebIp).flags & MYELIN_EP_F_INGRESS_ENFORCED) << "no policy selects web: not enforced";
  const uint32_t client_id = identity_of(client_);
  ASSERT_NE(client_id, 0u) << "the endpoints got identities from their pods' labels";
  ASSERT_NE(identity_of(web_), client_id);

  apply(objects_, "web.yaml", allow_web_from_client(80));
  regenerate();
  const std::set<std::string> at_80{key_of(web_, MYELIN_DIR_INGRESS, IPPROTO_TCP, client_id, 80),
                                    key_of(web_, MYELIN_DIR_INGRESS, 0, identity::kHost, 0)};
  EXPECT_EQ(entries(false), at_80) << "the rule, and the node reaching its pod (allow-localhost)";
  EXPECT_TRUE(entries(true).empty());
  EXPECT_EQ(writes(false), (std::pair<uint64_t, uint64_t>{2, 0}));
  const auto web = ep_info(kWebIp);
  EXPECT_TRUE(web.flags & MYELIN_EP_F_INGRESS_ENFORCED);
  EXPECT_FALSE(web.flags & MYELIN_EP_F_POLICY_FAILED);
  EXPECT_FALSE(ep_info(kClientIp).flags & MYELIN_EP_F_INGRESS_ENFORCED) << "positive control: client is selected by nothing";

  regenerate();
  EXPECT_EQ(writes(false), (std::pair<uint64_t, uint64_t>{2, 0})) << "an unchanged regeneration writes nothing";
  EXPECT_EQ(ep_info(kWebIp).policy_rev, web.policy_rev) << "nor re-checks established connections";

  apply(objects_, "web.yaml", allow_web_from_client(8080));
  regenerate();
  EXPECT_EQ(entries(false), (std::set<std::string>{key_of(web_, MYELIN_DIR_INGRESS, IPPROTO_TCP, client_id, 8080),
                                                   key_of(web_, MYELIN_DIR_INGRESS, 0, identity::kHost, 0)}));
  EXPECT_EQ(writes(false), (std::pair<uint64_t, uint64_t>{3, 1})) << "port 80 -> 8080: one entry added, one removed, the rest kept";
  EXPECT_GT(ep_info(kWebIp).policy_rev, web.policy_rev) << "a change re-checks web's established connections";
}

TEST_F(PolicyInstall, DenyRulesGoToTheDenyMapAndRemovedPoliciesLeaveNothing) {
  apply(objects_, "pods.yaml", kPods);
  apply(objects_, "web.yaml", allow_web_from_client(80));
  apply(objects_, "deny.yaml", kDenyClientUdp);
  regenerate();
  const uint32_t client_id = identity_of(client_);
  EXPECT_EQ(entries(true), (std::set<std::string>{key_of(web_, MYELIN_DIR_INGRESS, IPPROTO_UDP, client_id, 53)}));
  EXPECT_EQ(entries(false).size(), 2u) << "the allow rule and allow-localhost";

  objects_.remove("deny.yaml");
  regenerate();
  EXPECT_TRUE(entries(true).empty());
  EXPECT_EQ(writes(true), (std::pair<uint64_t, uint64_t>{1, 1}));
  EXPECT_EQ(entries(false).size(), 2u) << "positive control: the allow policy stays";

  objects_.remove("web.yaml");
  regenerate();
  EXPECT_TRUE(entries(false).empty());
  EXPECT_FALSE(ep_info(kWebIp).flags & MYELIN_EP_F_INGRESS_ENFORCED) << "no policy selects web any more";
}

TEST_F(PolicyInstall, AnEndpointThatWentAwayLosesItsEntries) {
  apply(objects_, "pods.yaml", kPods);
  apply(objects_, "web.yaml", allow_web_from_client(80));
  regenerate();
  ASSERT_EQ(entries(false).size(), 2u);
  ASSERT_TRUE(store_->remove("c-web", "eth0"));
  regenerate();
  EXPECT_TRUE(entries(false).empty()) << "web's entries went with it";
  EXPECT_EQ(pm_->installed_entries(), 0u);
}

}  // namespace
}  // namespace myelin::agent
