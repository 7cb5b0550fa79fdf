// SPDX-License-Identifier: Apache-2.0
#include "config/agent_flags.hpp"

#include <google/protobuf/util/json_util.h>
#include <linux/magic.h>
#include <sys/statfs.h>

#include <cstdlib>
#include <initializer_list>
#include <vector>

#include "flow.pb.h"
#include "myelin/datapath/datapath.hpp"
#include "myelin/net.hpp"
#include "myelin/services/maglev.hpp"
#include "myelin/socket_access.hpp"
#include "nodeport/devices.hpp"

namespace myelin::config {

std::optional<uint64_t> parse_size(const std::string& v) {
  if (v.empty()) return std::nullopt;
  uint64_t mult = 1ull << 20;
  std::string num = v;
  switch (v.back()) {
    case 'K': case 'k': mult = 1ull << 10; num.pop_back(); break;
    case 'M': case 'm': mult = 1ull << 20; num.pop_back(); break;
    case 'G': case 'g': mult = 1ull << 30; num.pop_back(); break;
  }
  if (num.empty() || num.size() > 9 || num.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoull(num) * mult;
}

std::string expand_node_name(std::string v, const std::string& node) {
  auto p = v.find("<node-name>");
  if (p != std::string::npos) v.replace(p, 11, node);
  return v;
}

namespace {

using Validator = Flags::Validator;

std::optional<long long> whole(const std::string& v) {
  try {
    size_t pos = 0;
    long long n = std::stoll(v, &pos, 10);
    if (pos == v.size()) return n;
  } catch (...) {
  }
  return std::nullopt;
}

// "--name must be a, b or c"
Validator one_of(const std::string& name, std::vector<std::string> values) {
  std::string list;
  for (size_t i = 0; i < values.size(); ++i) list += (i == 0 ? "" : i + 1 == values.size() ? " or " : ", ") + values[i];
  return [name, values, list](const std::string& v) -> Status {
    for (const auto& ok : values)
      if (v == ok) return {};
    return Error{"--" + name + " must be " + list};
  };
}

Validator positive(const std::string& name) {
  return [name](const std::string& v) -> Status {
    auto n = whole(v);
    if (!n || *n < 1) return Error{"--" + name + " must be a positive number"};
    return {};
  };
}

Validator size_between(uint64_t lo, uint64_t hi, std::string message) {
  return [lo, hi, message](const std::string& v) -> Status {
    auto n = parse_size(v);
    if (!n || *n < lo || *n > hi) return Error{message};
    return {};
  };
}

Validator flow_filter(const std::string& name) {
  return [name](const std::string& json) -> Status {
    flow::FlowFilter f;
    if (!google::protobuf::util::JsonStringToMessage(json, &f).ok()) return Error{"--" + name + ": not a Hubble FlowFilter in JSON: " + json};
    return {};
  };
}

enum class Type { value, boolean, repeated };

struct FlagDecl {
  const char* name;
  const char* help;
  std::string def;
  Type type = Type::value;
  Validator check = nullptr;
  const char* required = nullptr;  // the message when absent
};

constexpr const char* kFlowLogSizes =
    "--flow-log-max-size must be at least 1K (e.g. 100, 512K, 2G) and --flow-log-max-backups >= 0";

std::vector<FlagDecl> table(const std::string& node_name) {
  return {
      {"node-name", "name of this node", node_name},
      {"pod-cidr", "IPv4 CIDR pod addresses are allocated from, e.g. 10.244.1.0/24", "", Type::value,
       [](const std::string& v) -> Status {
         auto cidr = net::parse_cidr4(v);
         if (!cidr) return Error{"--pod-cidr: " + cidr.error().message};
         if (cidr->prefix > 30) return Error{"--pod-cidr " + cidr->str() + " leaves no usable pod addresses (need /30 or larger)"};
         return {};
       }},
      {"api-socket", "Unix socket for the CLI and the CNI plugin", "/var/run/myelin/myelin.sock"},
      {"api-socket-group", "group (name or gid) whose members may use the API socket besides root; empty: root only", "", Type::value,
       [](const std::string& v) -> Status {
         if (v.empty()) return {};
         if (auto a = resolve_socket_group(v); !a) return Error{"--api-socket-group: " + a.error().message};
         return {};
       }},
      {"bpffs-root", "directory under bpffs where maps are pinned", "/sys/fs/bpf/myelin/<node-name>"},
      {"state-dir", "directory for IPAM, endpoint and identity state", "/var/lib/myelin/<node-name>"},
      {"flow-store-size", "flows kept in memory for `myelin observe`", "16384", Type::value, positive("flow-store-size")},
      {"ct-gc-interval", "seconds between conntrack garbage collections", "30", Type::value, positive("ct-gc-interval")},
      {"events-ring-size", "bytes of the datapath's event ring buffer (power of two)", "4194304", Type::value,
       [](const std::string& v) -> Status {
         auto ring = whole(v);
         if (!ring || *ring < 4096 || *ring > (1ll << 30) || (*ring & (*ring - 1)))
           return Error{"--events-ring-size must be a power of two from 4096 to 1G"};
         return {};
       }},
      {"bpf-map-max-entries",
       "capacities of the datapath maps, e.g. conntrack=524288,policy=65536 (endpoints, conntrack, ipcache, policy, fragments); "
       "a pinned map of another size is refused",
       "", Type::value,
       [](const std::string& v) -> Status {
         if (auto s = datapath::parse_map_sizes(v); !s) return Error{"--bpf-map-max-entries: " + s.error().message};
         return {};
       }},
      {"lb-algorithm",
       "how a Service frontend picks a backend for a client from outside the cluster: random, or maglev (consistent hashing: every "
       "node picks the same backend for a flow); pods always pick at random (or by sessionAffinity)",
       "random", Type::value, one_of("lb-algorithm", {"random", "maglev"})},
      {"lb-maglev-table-size", "slots of each frontend's Maglev table: a prime, at least 100 x the frontend's backends (251 to 131071)",
       std::to_string(services::maglev::kDefaultTableSize), Type::value,
       [](const std::string& v) -> Status {
         auto n = whole(v);
         if (!n || *n < 0 || *n > UINT32_MAX) return Error{"--lb-maglev-table-size must be a prime number (e.g. 16381), not '" + v + "'"};
         if (auto s = services::maglev::check_table_size(static_cast<uint32_t>(*n)); !s) return Error{"--lb-maglev-table-size: " + s.error().message};
         return {};
       }},
      {"redirect-peer", "deliver locally with bpf_redirect_peer: auto, true or false", "auto", Type::value,
       one_of("redirect-peer", {"auto", "true", "false"})},
      {"manifests", "directory of Kubernetes YAML (Namespace, Pod, NetworkPolicy, CiliumNetworkPolicy, ...), watched live"},
      {"manifest-max-size", "largest manifest file read: MiB, or with a K/M/G suffix; larger ones are refused", "16", Type::value,
       size_between(1024, 1ull << 30, "--manifest-max-size must be from 1K to 1G (e.g. 16, 512K, 64M)")},
      {"kubeconfig", "watch the Kubernetes API server of this kubeconfig (in a pod, the service account is used without it)"},
      {"k8s-sync-timeout", "seconds to wait for the first list of every resource before serving", "60", Type::value,
       positive("k8s-sync-timeout")},
      {"k8s-service-proxy-name", "serve only the Services labelled service.kubernetes.io/service-proxy-name with this name; "
       "empty: only those without the label, as kube-proxy"},
      {"policy-audit-mode", "report policy verdicts as AUDIT and never drop for policy", "", Type::boolean},
      {"allow-localhost",
       "always: the node (kubelet probes) reaches its pods whatever their ingress policy; policy: only where policy allows the host entity",
       "always", Type::value, one_of("allow-localhost", {"always", "policy"})},
      {"metrics-addr", "Prometheus metrics listen address (/metrics); empty disables", ":9962"},
      {"flow-log", "write flows as JSON lines (hubble observe -o json shape) to this file"},
      {"flow-log-max-size", "rotate the flow log at this size: MiB, or with a K/M/G suffix", "100", Type::value,
       size_between(1024, UINT64_MAX, kFlowLogSizes)},
      {"flow-log-max-backups", "rotated flow logs kept", "3", Type::value,
       [](const std::string& v) -> Status {
         auto n = whole(v);
         if (!n || *n < 0) return Error{kFlowLogSizes};
         return {};
       }},
      {"flow-log-allow", "only log flows matching this Hubble FlowFilter (JSON)", "", Type::repeated, flow_filter("flow-log-allow")},
      {"flow-log-deny", "never log flows matching this Hubble FlowFilter (JSON)", "", Type::repeated, flow_filter("flow-log-deny")},
      {"runtime-events", "record process exec/exit events (`myelin events`): true or false", "true", Type::value,
       one_of("runtime-events", {"true", "false"})},
      {"runtime-event-store-size", "runtime events kept in memory", "16384", Type::value, positive("runtime-event-store-size")},
      {"storage-events", "count block I/O per device and process with latency histograms: true or false", "true", Type::value,
       one_of("storage-events", {"true", "false"})},
      {"network-events", "report each process's TCP connect, accept and close (process_kprobe events): true or false", "false",
       Type::value, one_of("network-events", {"true", "false"})},
      {"socket-lb",
       "load-balance Services at the socket (cgroup connect4/sendmsg4/recvmsg4/getpeername4 on --cgroup-root): true or false",
       "true", Type::value, one_of("socket-lb", {"true", "false"})},
      {"cgroup-root",
       "cgroup v2 directory whose processes get socket-level load balancing; empty: the machine's cgroup v2 root (detected)",
       "", Type::value,
       [](const std::string& v) -> Status {
         if (v.empty()) return {};
         struct statfs st{};
         if (::statfs(v.c_str(), &st) != 0 || st.f_type != CGROUP2_SUPER_MAGIC)
           return Error{"--cgroup-root " + v + " is not a cgroup v2 directory"};
         return {};
       }},
      {"gpu-libs", "CUDA libraries to probe (comma-separated paths), auto (where CUDA installs them) or none", "auto"},
      {"events-log", "write runtime events as JSON lines (tetra getevents -o json shape) to this file"},
      {"events-log-max-size", "rotate the events log at this size: MiB, or with a K/M/G suffix", "100", Type::value,
       [](const std::string& v) -> Status {
         if (!parse_size(v)) return Error{"--events-log-max-size: '" + v + "' is not a size (e.g. 100, 512K, 10M)"};
         return {};
       }},
      {"events-log-max-backups", "rotated events logs kept", "3", Type::value,
       [](const std::string& v) -> Status {
         auto n = whole(v);
         if (!n || *n < 0) return Error{"--events-log-max-backups must be a number >= 0"};
         return {};
       }},
      {"log-level", "debug, info, warn or error", "info", Type::value,
       [](const std::string& v) -> Status {
         if (v == "debug" || v == "info" || v == "warn" || v == "error") return {};
         return Error{"--log-level must be debug, info, warn or error, not '" + v + "'"};
       }},
      {"devices", "devices clients outside the cluster reach NodePorts, externalIPs and LoadBalancer IPs by (comma-separated); "
                  "empty: the devices of this namespace's default routes"},
      {"node-port-range", "ports NodePort frontends may use, MIN-MAX", "30000-32767", Type::value,
       [](const std::string& v) -> Status {
         if (auto r = nodeport::parse_port_range(v); !r) return r.error();
         return {};
       }},
      // ---- A cluster (issue 12): nodes, identities and the ipcache shared through etcd or the Kubernetes API ----
      {"routing-mode", "how pods reach pods of other nodes: tunnel (VXLAN, UDP 8472) or native (routes via the node addresses)", "tunnel",
       Type::value,
       [](const std::string& v) -> Status {
         if (v == "tunnel" || v == "native") return {};
         return Error{"--routing-mode must be tunnel or native, not '" + v + "'"};
       }},
      {"node-ip", "this node's underlay address; empty: the address of the device holding the default route", "", Type::value,
       [](const std::string& v) -> Status {
         if (v.empty()) return {};
         if (auto ip = net::parse_ipv4(v); !ip) return Error{"--node-ip: " + ip.error().message};
         return {};
       }},
      {"cluster-name", "name of the cluster (the kvstore's key prefix)", "default", Type::value,
       [](const std::string& v) -> Status {
         if (v.empty() || v.size() > 63 || v.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
           return Error{"--cluster-name must be 1-63 lowercase letters, digits or '-', not '" + v + "'"};
         return {};
       }},
      {"kvstore", "the cluster's store: etcd; empty: none (a single node, or the Kubernetes API)", "", Type::value,
       [](const std::string& v) -> Status {
         if (v.empty() || v == "etcd") return {};
         return Error{"--kvstore must be etcd, not '" + v + "'"};
       }},
      {"kvstore-endpoints", "etcd client URLs, comma-separated, e.g. http://10.0.0.10:2379"},
      {"kvstore-cacert", "CA bundle that verifies the etcd servers (https endpoints)"},
      {"kvstore-cert", "client certificate for etcd (with --kvstore-key)"},
      {"kvstore-key", "client key for etcd"},
      {"kvstore-lease-ttl", "seconds a node's records outlive its agent in the kvstore", "60", Type::value,
       [](const std::string& v) -> Status {
         auto n = whole(v);
         if (!n || *n < 2 || *n > 3600) return Error{"--kvstore-lease-ttl must be a number of seconds from 2 to 3600"};
         return {};
       }},
      {"ipam", "where this node's pod CIDR comes from: static (--pod-cidr), cluster-pool (claimed in the kvstore) or "
               "kubernetes (Node.spec.podCIDRs); empty: static when --pod-cidr is given", "", Type::value,
       [](const std::string& v) -> Status {
         if (v.empty() || v == "static" || v == "cluster-pool" || v == "kubernetes") return {};
         return Error{"--ipam must be static, cluster-pool or kubernetes, not '" + v + "'"};
       }},
      {"cluster-pool-cidr", "the cluster's pod address pool (--ipam cluster-pool), e.g. 10.200.0.0/16", "", Type::value,
       [](const std::string& v) -> Status {
         if (v.empty()) return {};
         if (auto c = net::parse_cidr4(v); !c) return Error{"--cluster-pool-cidr: " + c.error().message};
         return {};
       }},
      {"cluster-pool-mask-size", "prefix length of each node's pod CIDR from the pool", "24", Type::value,
       [](const std::string& v) -> Status {
         auto n = whole(v);
         if (!n || *n < 8 || *n > 30) return Error{"--cluster-pool-mask-size must be a prefix length from 8 to 30"};
         return {};
       }},
      {"native-routing-cidr", "native routing: destinations in this CIDR are not masqueraded (e.g. the pods' network)", "", Type::value,
       [](const std::string& v) -> Status {
         if (v.empty()) return {};
         if (auto c = net::parse_cidr4(v); !c) return Error{"--native-routing-cidr: " + c.error().message};
         return {};
       }},
      {"masquerade", "SNAT pod traffic that leaves the cluster to the node address, in BPF (true or false)", "true", Type::value,
       [](const std::string& v) -> Status {
         if (v == "true" || v == "false") return {};
         return Error{"--masquerade must be true or false, not '" + v + "'"};
       }},
      {"probe", "print what this kernel supports (the start-up feature report) and exit", "", Type::boolean},
  };
}

}  // namespace

Status check_cluster_flags(const Flags& f) {
  const std::string ipam = f.get("ipam").empty() ? "static" : f.get("ipam");
  if (ipam == "static" && f.get("pod-cidr").empty())
    return Error{"--pod-cidr is required (e.g. --pod-cidr 10.244.1.0/24), or --ipam cluster-pool|kubernetes"};
  if (ipam != "static" && !f.get("pod-cidr").empty())
    return Error{"--pod-cidr is static IPAM: it cannot be given with --ipam " + ipam};
  if (ipam == "cluster-pool" && (f.get("kvstore").empty() || f.get("cluster-pool-cidr").empty()))
    return Error{"--ipam cluster-pool claims the node's pod CIDR in the kvstore: it needs --kvstore etcd and --cluster-pool-cidr"};
  if (ipam == "cluster-pool") {
    auto pool = net::parse_cidr4(f.get("cluster-pool-cidr"));
    if (pool && *f.get_int("cluster-pool-mask-size") < pool->prefix)
      return Error{"--cluster-pool-mask-size " + f.get("cluster-pool-mask-size") + " is wider than --cluster-pool-cidr " + pool->str()};
  }
  if (ipam == "kubernetes" && f.get("kubeconfig").empty() && f.get("manifests").empty() && !std::getenv("KUBERNETES_SERVICE_HOST"))
    return Error{"--ipam kubernetes reads this node's Node.spec.podCIDRs: it needs --kubeconfig or --manifests"};
  if (!f.get("kvstore").empty()) {
    if (f.get("kvstore-endpoints").empty()) return Error{"--kvstore etcd needs --kvstore-endpoints (e.g. http://10.0.0.10:2379)"};
    if (f.get("kvstore-cert").empty() != f.get("kvstore-key").empty())
      return Error{"--kvstore-cert and --kvstore-key go together"};
  } else if (!f.get("kvstore-endpoints").empty()) {
    return Error{"--kvstore-endpoints is given without --kvstore etcd"};
  }
  return {};
}

Flags agent_flags(const std::string& default_node_name) {
  Flags f(
      "myelind: Myelin's node agent (eBPF pod networking and flow observability).\n"
      "Runs in the network namespace it is started in: that namespace is the node.\n\n"
      "Usage: myelind --pod-cidr CIDR [flags]\n"
      "       myelind --kvstore etcd --kvstore-endpoints URL --ipam cluster-pool --cluster-pool-cidr CIDR [flags]");
  for (auto& d : table(default_node_name)) {
    if (d.type == Type::boolean) f.add_bool(d.name, d.help);
    else f.add(d.name, d.help, d.def, d.type == Type::repeated);
    if (d.check) f.check(d.name, std::move(d.check));
    if (d.required) f.require(d.name, d.required);
  }
  return f;
}

}  // namespace myelin::config
