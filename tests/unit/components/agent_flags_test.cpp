// SPDX-License-Identifier: Apache-2.0
// myelind's flag table: every value given is checked by its flag's
// validator with the message users and tests know; good values pass; the
// required flag is named; --help lists every flag.
#include <gtest/gtest.h>

#include "config/agent_flags.hpp"

namespace myelin::config {
namespace {

Status parse(std::vector<std::string> args) {
  Flags f = agent_flags("node1");
  return f.parse(args);
}

TEST(AgentFlags, BadValuesFailWithTheirMessage) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--pod-cidr", "10.1.0.0/31"}, "--pod-cidr 10.1.0.0/31 leaves no usable pod addresses (need /30 or larger)"},
      {{"--pod-cidr", "x"}, "--pod-cidr: 'x' is not a CIDR (expected a.b.c.d/len)"},
      {{"--flow-store-size", "0"}, "--flow-store-size must be a positive number"},
      {{"--flow-store-size=ten"}, "--flow-store-size must be a positive number"},
      {{"--ct-gc-interval", "-3"}, "--ct-gc-interval must be a positive number"},
      {{"--events-ring-size", "5000"}, "--events-ring-size must be a power of two from 4096 to 1G"},
      {{"--events-ring-size", "2048"}, "--events-ring-size must be a power of two from 4096 to 1G"},
      {{"--redirect-peer", "yes"}, "--redirect-peer must be auto, true or false"},
      {{"--storage-events", "maybe"}, "--storage-events must be true or false"},
      {{"--network-events", "1"}, "--network-events must be true or false"},
      {{"--runtime-events", "off"}, "--runtime-events must be true or false"},
      {{"--allow-localhost", "never"}, "--allow-localhost must be always or policy"},
      {{"--log-level", "trace"}, "--log-level must be debug, info, warn or error, not 'trace'"},
      {{"--manifest-max-size", "512"}, "--manifest-max-size must be from 1K to 1G (e.g. 16, 512K, 64M)"},  // 512 MiB fits: see below
      {{"--manifest-max-size", "2G"}, "--manifest-max-size must be from 1K to 1G (e.g. 16, 512K, 64M)"},
      {{"--manifest-max-size", "12Q"}, "--manifest-max-size must be from 1K to 1G (e.g. 16, 512K, 64M)"},
      {{"--flow-log-max-size", "512"}, ""},  // 512 MiB: fine
      {{"--flow-log-max-size", "100K", "--flow-log-max-size", "1"}, ""},
      {{"--flow-log-max-size", "0K"}, "--flow-log-max-size must be at least 1K (e.g. 100, 512K, 2G) and --flow-log-max-backups >= 0"},
      {{"--flow-log-max-backups", "-1"}, "--flow-log-max-size must be at least 1K (e.g. 100, 512K, 2G) and --flow-log-max-backups >= 0"},
      {{"--flow-log-allow", "{\"source_pod\":[\"a\"]}", "--flow-log-allow", "{oops"}, "--flow-log-allow: not a Hubble FlowFilter in JSON: {oops"},
      {{"--flow-log-deny", "[]"}, "--flow-log-deny: not a Hubble FlowFilter in JSON: []"},
      {{"--events-log-max-size", "ten"}, "--events-log-max-size: 'ten' is not a size (e.g. 100, 512K, 10M)"},
      {{"--bpf-map-max-entries", "conntrack"}, ""},  // filled below from parse_map_sizes itself
      {{"--api-socket-group", "mln-components-no-such-group"}, "--api-socket-group: no group named 'mln-components-no-such-group'"},
      {{"--k8s-sync-timeout", "0"}, "--k8s-sync-timeout must be a positive number"},
      {{"--runtime-event-store-size", "lots"}, "--runtime-event-store-size must be a positive number"},
      {{"--events-log-max-backups", "-2"}, "--events-log-max-backups must be a number >= 0"},
      {{"--no-such-flag"}, "unknown flag --no-such-flag (see --help)"},
  };
  for (const auto& c : cases) {
    auto s = parse(c.args);
    std::string what = c.args[0] + " " + (c.args.size() > 1 ? c.args[1] : "");
    if (c.args[0] == "--manifest-max-size" && c.args[1] == "512") {
      EXPECT_TRUE(s) << what;  // 512 MiB is within 1K..1G
      continue;
    }
    if (c.args[0] == "--bpf-map-max-entries") {
      ASSERT_FALSE(s) << what;
      EXPECT_EQ(s.error().message.rfind("--bpf-map-max-entries: ", 0), 0u) << s.error().message;
      continue;
    }
    if (c.message.empty()) {
      EXPECT_TRUE(s) << what << ": " << (s ? "" : s.error().message);
      continue;
    }
    ASSERT_FALSE(s) << what;
    EXPECT_EQ(s.error().message.substr(0, c.message.size()), c.message) << what;
  }
}

TEST(AgentFlags, GoodValuesPass) {
  EXPECT_TRUE(parse({"--pod-cidr", "10.244.1.0/24", "--flow-store-size", "8", "--ct-gc-interval=1", "--events-ring-size", "4096",
                     "--redirect-peer", "false", "--storage-events=false", "--network-events", "true", "--allow-localhost", "policy",
                     "--log-level", "debug", "--manifest-max-size", "512K", "--flow-log-max-size", "2G", "--flow-log-max-backups", "0",
                     "--flow-log-allow", "{\"source_pod\":[\"default/\"]}", "--events-log-max-size", "10M",
                     "--bpf-map-max-entries", "conntrack=524288,policy=65536", "--api-socket-group", "", "--policy-audit-mode",
                     "--k8s-sync-timeout", "5", "--runtime-event-store-size", "64", "--events-log-max-backups", "0"}));
  EXPECT_TRUE(parse({})) << "defaults are valid";
}

TEST(AgentFlags, PodCidrIsRequiredButNotForHelp) {
  Flags f = agent_flags("node1");
  ASSERT_TRUE(f.parse(std::vector<std::string>{"--probe"}));
  auto s = check_cluster_flags(f);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "--pod-cidr is required (e.g. --pod-cidr 10.244.1.0/24), or --ipam cluster-pool|kubernetes");
  Flags g = agent_flags("node1");
  ASSERT_TRUE(g.parse(std::vector<std::string>{"--pod-cidr", "10.244.1.0/24"}));
  EXPECT_TRUE(g.missing_required());
  EXPECT_TRUE(check_cluster_flags(g));
  EXPECT_EQ(g.get("pod-cidr"), "10.244.1.0/24");
  Flags h = agent_flags("node1");
  ASSERT_TRUE(h.parse(std::vector<std::string>{"--help"}));
  EXPECT_TRUE(h.help_requested());
}

TEST(AgentFlags, ClusterFlagsGoTogether) {
  auto check = [](std::vector<std::string> args) -> std::string {
    Flags f = agent_flags("node1");
    if (auto s = f.parse(args); !s) return s.error().message;
    auto s = check_cluster_flags(f);
    return s ? "" : s.error().message;
  };
  EXPECT_EQ(check({"--pod-cidr", "10.1.0.0/24", "--kvstore", "etcd", "--kvstore-endpoints", "http://10.0.0.1:2379"}), "");
  EXPECT_EQ(check({"--kvstore", "etcd", "--kvstore-endpoints", "http://10.0.0.1:2379", "--ipam", "cluster-pool", "--cluster-pool-cidr",
                   "10.200.0.0/16"}),
            "");
  EXPECT_NE(check({"--ipam", "cluster-pool", "--cluster-pool-cidr", "10.200.0.0/16"}).find("needs --kvstore etcd"), std::string::npos);
  EXPECT_NE(check({"--pod-cidr", "10.1.0.0/24", "--kvstore", "etcd"}).find("needs --kvstore-endpoints"), std::string::npos);
  EXPECT_NE(check({"--pod-cidr", "10.1.0.0/24", "--ipam", "cluster-pool"}).find("cannot be given with --ipam"), std::string::npos);
  EXPECT_NE(check({"--kvstore", "etcd", "--kvstore-endpoints", "http://a:1", "--ipam", "cluster-pool", "--cluster-pool-cidr", "10.200.0.0/16",
                   "--cluster-pool-mask-size", "12"})
                .find("wider than"),
            std::string::npos);
  EXPECT_NE(check({"--pod-cidr", "10.1.0.0/24", "--routing-mode", "geneve"}).find("tunnel or native"), std::string::npos);
  EXPECT_NE(check({"--pod-cidr", "10.1.0.0/24", "--kvstore-lease-ttl", "1"}).find("from 2 to 3600"), std::string::npos);
}

TEST(AgentFlags, HelpListsEveryFlag) {
  const std::string help = agent_flags("node1").help();
  for (const char* name :
       {"node-name", "pod-cidr", "api-socket", "api-socket-group", "bpffs-root", "state-dir", "flow-store-size", "ct-gc-interval",
        "events-ring-size", "bpf-map-max-entries", "redirect-peer", "manifests", "manifest-max-size", "kubeconfig", "k8s-sync-timeout",
        "policy-audit-mode", "allow-localhost", "metrics-addr", "flow-log", "flow-log-max-size", "flow-log-max-backups", "flow-log-allow",
        "flow-log-deny", "runtime-events", "runtime-event-store-size", "storage-events", "network-events", "gpu-libs", "events-log",
        "events-log-max-size", "events-log-max-backups", "log-level", "probe", "help", "routing-mode", "node-ip", "cluster-name",
        "kvstore", "kvstore-endpoints", "kvstore-cacert", "kvstore-cert", "kvstore-key", "kvstore-lease-ttl", "ipam",
        "cluster-pool-cidr", "cluster-pool-mask-size", "native-routing-cidr", "masquerade"})
    EXPECT_NE(help.find("  --" + std::string(name) + " "), std::string::npos) << name;
  EXPECT_NE(help.find("(default node1)"), std::string::npos);
  EXPECT_NE(help.find("Usage: myelind --pod-cidr CIDR [flags]"), std::string::npos);
}

TEST(AgentFlags, SizesAndNodeNames) {
  EXPECT_EQ(parse_size("100"), 100ull << 20);
  EXPECT_EQ(parse_size("512K"), 512ull << 10);
  EXPECT_EQ(parse_size("2g"), 2ull << 30);
  EXPECT_EQ(parse_size(""), std::nullopt);
  EXPECT_EQ(parse_size("K"), std::nullopt);
  EXPECT_EQ(parse_size("1.5M"), std::nullopt);
  EXPECT_EQ(expand_node_name("/sys/fs/bpf/myelin/<node-name>", "n1"), "/sys/fs/bpf/myelin/n1");
  EXPECT_EQ(expand_node_name("/x", "n1"), "/x");
}

}  // namespace
}  // namespace myelin::config
