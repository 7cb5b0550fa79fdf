// SPDX-License-Identifier: Apache-2.0
// --ipam kubernetes (sources::node_pod_cidr): the Node's first IPv4 podCIDR
// from the stand-in API server, waited for while the Node is missing or has
// none yet (added during the wait), a bounded wait that names why it gave up,
// and the same from a manifests directory.
#include <gtest/gtest.h>

#include <thread>

#include "sources/node_pod_cidr.hpp"
#include "standin.hpp"

namespace myelin::test {
namespace {

using namespace std::chrono_literals;

nlohmann::json node(const std::string& name, const std::vector<std::string>& cidrs) {
  nlohmann::json n = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}},
                      {"status", {{"addresses", {{{"type", "InternalIP"}, {"address", "192.168.50.1"}}}}}}};
  if (!cidrs.empty()) n["spec"]["podCIDRs"] = cidrs;
  return n;
}

TEST(NodePodCidr, FromTheApiWaitingForTheNodeAndItsCidr) {
  StandinApiServer server({});
  auto cfg = kube::load_kubeconfig(server.kubeconfig());
  ASSERT_TRUE(cfg);
  server.control("apply", node("other", {"10.244.7.0/24"}));
  sources::PodCidrFrom from{*cfg, ""};
  // Missing: a bounded wait that says so.
  auto missing = sources::node_pod_cidr(from, "n1", 500ms);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no Node n1"), std::string::npos) << missing.error().message;
  // Present without a CIDR, then allocated during the wait (IPv6 first: the IPv4 one is taken).
  server.control("apply", node("n1", {}));
  std::vector<std::string> said;
  std::thread later([&] {
    std::this_thread::sleep_for(700ms);
    server.control("apply", node("n1", {"fd00:10:244:1::/64", "10.244.1.0/24"}));
  });
  auto got = sources::node_pod_cidr(from, "n1", 20s, [&](const std::string& m) { said.push_back(m); });
  later.join();
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->str(), "10.244.1.0/24");
  ASSERT_FALSE(said.empty());
  EXPECT_NE(said[0].find("no IPv4 spec.podCIDRs"), std::string::npos) << said[0];
  // A wrong token is not waited for.
  auto bad = kube::load_kubeconfig(server.kubeconfig_with_token("wrong"));
  auto denied = sources::node_pod_cidr({*bad, ""}, "n1", 20s);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, 401);
}

TEST(NodePodCidr, FromTheManifestsDirectory) {
  char tmpl[] = "/tmp/myelin-podcidr-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/nodes.yaml") << "apiVersion: v1\nkind: Node\nmetadata: {name: n2}\nspec: {podCIDR: 10.244.2.0/24}\n";
  auto got = sources::node_pod_cidr({std::nullopt, dir}, "n2", 2s);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->str(), "10.244.2.0/24");
  auto none = sources::node_pod_cidr({std::nullopt, dir}, "n3", 300ms);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no Node n3"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace myelin::test
