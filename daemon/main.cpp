// SPDX-License-Identifier: Apache-2.0
// myelind: the node agent. main() only parses flags and wires the small
// components together; each of them owns one job (see daemon/*/), and
// registers its own API routes, metrics and status (component/).
//
//   flags (config/agent_flags.cpp: declared with their validation)
//         -> pseudo-filesystems (bpffs, tracefs, securityfs) -> feature probe
//         -> Datapath (pinned maps adopted)
//         -> IPAM / endpoint store / identities (state dir)
//         -> EndpointManager::restore (re-attach by atomic replace)
//         -> the component list, started in order: event pump, conntrack GC,
//            flow log, runtime sensors, TracingPolicies, metrics, object sources
//         -> ApiServer over the Router the components filled
//
// Stopping the agent (any signal, even SIGKILL) leaves programs attached and
// maps pinned: pods keep talking while it is away.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <net/if.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "agent/components.hpp"
#include "agent/conntrack_gc.hpp"
#include "agent/endpoint_manager.hpp"
#include "agent/event_pump.hpp"
#include "agent/flow_view.hpp"
#include "agent/object_list.hpp"
#include "agent/policy_component.hpp"
#include "agent/policy_manager.hpp"
#include "agent/services_component.hpp"
#include "component/components.hpp"
#include "config/agent_flags.hpp"
#include "myelin/cluster/nodes_component.hpp"
#include "flowlog/flow_log_component.hpp"
#include "metrics/agent_counters.hpp"
#include "metrics/exporter.hpp"
#include "myelin/cluster/cluster_state.hpp"
#include "myelin/flags.hpp"
#include "myelin/cluster/node_datapath.hpp"
#include "myelin/cluster/nodes_component.hpp"
#include "myelin/identity/scoped_identities.hpp"
#include "myelin/kvstore/identities.hpp"
#include "myelin/kvstore/pod_cidr.hpp"
#include "myelin/kube/kube_identities.hpp"
#include "myelin/cluster/objects_feed.hpp"
#include "sources/node_pod_cidr.hpp"
#include "myelin/kvstore/kvstore_component.hpp"
#include "myelin/netlink.hpp"
#include "myelin/log.hpp"
#include "myelin/pseudo_fs.hpp"
#include "myelin/services/lb_component.hpp"
#include "nodeport/devices.hpp"
#include "nodeport/nodeport_component.hpp"
#include "masquerade/masquerade_component.hpp"
#include "runtime/pod_index.hpp"
#include "runtime/runtime_components.hpp"
#include "server/api_server.hpp"
#include "server/router.hpp"
#include "services/sock_lb_component.hpp"
#include "sources/source_components.hpp"
#include "tracing/tracing_component.hpp"
#include "tunnel/tunnel_component.hpp"

#ifndef MYELIN_VERSION
#define MYELIN_VERSION "0.0.0"
#endif

namespace {

using namespace myelin;

int fail(const std::string& what) {
  log::error("myelind", what);
  return 1;
}

int usage_error(const std::string& what) {
  std::cerr << "myelind: " << what << "\n";
  return 2;
}

std::string hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

Status make_dirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{"cannot create " + dir + ": " + ec.message()};
  return {};
}


// This node's place in a cluster: its underlay address and device (--node-ip,
// or the default route's device), and what the datapath is told
// (myelin_node_config). A single node (no kvstore, no Kubernetes API) routes
// nothing to other nodes.
struct ClusterNode {
  bool clustered = false;
  bool tunnel = false;
  net::Ipv4 ip{};
  unsigned underlay_mtu = 1500;
};

Result<ClusterNode> cluster_node(const Flags& flags, bool clustered) {
  ClusterNode c;
  c.clustered = clustered;
  if (!c.clustered) return c;
  c.tunnel = flags.get("routing-mode") == "tunnel";
  auto devs = nodeport::resolve_devices("");
  if (!flags.get("node-ip").empty()) c.ip = *net::parse_ipv4(flags.get("node-ip"));  // validated
  else if (devs && !devs->empty() && !devs->front().addrs.empty()) c.ip = devs->front().addrs.front();
  else return Error{"a cluster node needs --node-ip, or a default route whose device has an address"};
  if (devs)
    for (const auto& d : *devs)
      for (auto a : d.addrs)
        if (a == c.ip)
          if (auto l = netlink::link_get(d.ifindex); l) c.underlay_mtu = l->mtu;
  return c;
}

// The routing fields of the node config (masquerade's are MasqueradeComponent's):
// read, changed, written back, so a restart never clears what another part wrote.
myelin_node_config node_config(myelin_node_config nc, const ClusterNode& c, int tunnel_ifindex) {
  nc.routing_mode = !c.clustered ? MYELIN_ROUTING_NONE : c.tunnel ? MYELIN_ROUTING_TUNNEL : MYELIN_ROUTING_NATIVE;
  if (c.clustered) nc.node_ip = c.ip.network_order();
  nc.tunnel_ifindex = c.tunnel ? static_cast<uint32_t>(tunnel_ifindex) : 0;
  return nc;
}

}  // namespace

int main(int argc, char** argv) {
  // Every value is checked here, by the validator declared with its flag.
  Flags flags = config::agent_flags(hostname());
  if (auto s = flags.parse(argc, argv); !s) return usage_error(s.error().message);
  if (flags.help_requested()) {
    std::cout << flags.help();
    return 0;
  }
  const std::string level = flags.get("log-level");
  log::set_level(level == "debug" ? log::Level::debug : level == "warn" ? log::Level::warn : level == "error" ? log::Level::error : log::Level::info);
  // Mounted once, first: every component after this finds them (a fresh machine has none).
  auto mounts = pseudofs::Mounts::ensure();
  if (!mounts) return fail(mounts.error().message);
  if (flags.get_bool("probe")) {
    for (const auto& f : datapath::probe_features(*mounts))
      std::cout << f.name << ": " << (f.available ? "yes" : "no") << (f.detail.empty() ? "" : " (" + f.detail + ")") << "\n";
    return 0;
  }
  if (auto s = flags.missing_required(); !s) return usage_error(s.error().message);
  if (auto s = config::check_cluster_flags(flags); !s) return usage_error(s.error().message);
  const std::string rp = flags.get("redirect-peer");

  // Signals are taken synchronously by main (sigwait), never by worker threads.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  agent::AgentInfo info;
  info.node_name = flags.get("node-name");
  info.version = MYELIN_VERSION;
  info.bpffs_root = config::expand_node_name(flags.get("bpffs-root"), info.node_name);
  info.started = google::protobuf::util::TimeUtil::GetCurrentTime();
  const std::string state_dir = config::expand_node_name(flags.get("state-dir"), info.node_name);
  const std::string socket_path = flags.get("api-socket");
  SocketAccess api_access;
  if (!flags.get("api-socket-group").empty()) {
    auto a = resolve_socket_group(flags.get("api-socket-group"));
    if (!a) return usage_error("--api-socket-group: " + a.error().message);
    api_access = *a;
  }

  if (auto s = make_dirs(state_dir); !s) return fail(s.error().message);
  if (auto s = make_dirs(std::filesystem::path(socket_path).parent_path().string()); !s) return fail(s.error().message);
  if (auto s = datapath::make_pin_dir(info.bpffs_root); !s) return fail("--bpffs-root: " + s.error().message);

  // The cluster's stores: etcd (--kvstore: one client and one lease for all of
  // this node's keys) or the Kubernetes API (--kubeconfig, or in a pod).
  // Neither: a single node.
  const bool kube_api = flags.is_set("kubeconfig") || (!flags.is_set("manifests") && std::getenv("KUBERNETES_SERVICE_HOST"));
  std::optional<kube::ClusterConfig> kube_cluster;
  if (kube_api) {
    auto c = flags.is_set("kubeconfig") ? kube::load_kubeconfig(flags.get("kubeconfig")) : kube::load_in_cluster();
    if (!c) return fail(c.error().message);
    kube_cluster = *c;
  }
  std::unique_ptr<kvstore::Etcd> etcd;
  std::unique_ptr<kvstore::Session> session;
  if (flags.get("kvstore") == "etcd") {
    auto eo = kvstore::etcd_options(flags);
    if (!eo) return usage_error(eo.error().message);
    auto e = kvstore::Etcd::connect(*eo);
    if (!e) return fail("etcd: " + e.error().message);
    etcd = std::move(*e);
    // Unreachable now is not an error: the session keeps trying, status says degraded.
    auto sess = kvstore::Session::open(*etcd, std::chrono::seconds(*flags.get_int("kvstore-lease-ttl")), nullptr);
    if (!sess) return fail("etcd session: " + sess.error().message);
    session = std::move(*sess);
  }
  // This node's pod CIDR (--ipam): given, claimed in etcd (kept across
  // restarts), or its Node's spec.podCIDRs.
  std::optional<net::Cidr4> cidr;
  const std::string ipam_mode = flags.get("ipam").empty() ? "static" : flags.get("ipam");
  if (ipam_mode == "static") {
    cidr = *net::parse_cidr4(flags.get("pod-cidr"));  // validated
  } else if (ipam_mode == "cluster-pool") {
    // A first start needs the store to claim one (bounded wait); a restart has its claim in the state dir.
    Result<std::string> c = Error{"not tried"};
    for (int attempt = 0; attempt < 30; ++attempt) {
      c = kvstore::claim_pod_cidr(*etcd, flags.get("cluster-name"), info.node_name, flags.get("cluster-pool-cidr"),
                                  static_cast<int>(*flags.get_int("cluster-pool-mask-size")), state_dir + "/pod-cidr.json");
      if (c || c.error().message.rfind("--cluster-pool", 0) == 0 || c.error().message.find(" is claimed") != std::string::npos) break;
      if (attempt == 0) log::warn("ipam", "--ipam cluster-pool: " + c.error().message + "; retrying for 30 s");
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (!c) return fail("--ipam cluster-pool: " + c.error().message);
    auto parsed = net::parse_cidr4(*c);
    if (!parsed) return fail("--ipam cluster-pool: the store holds '" + *c + "': " + parsed.error().message);
    cidr = *parsed;
  } else {
    sources::PodCidrFrom from;
    if (kube_cluster) from.api = *kube_cluster;
    else from.manifests_dir = flags.get("manifests");
    auto c = sources::node_pod_cidr(from, info.node_name, std::chrono::seconds(*flags.get_int("k8s-sync-timeout")),
                                    [](const std::string& m) { log::info("ipam", m); });
    if (!c) return fail("--ipam kubernetes: " + c.error().message);
    cidr = *c;
  }
  info.pod_cidr = *cidr;
  log::info("ipam", "pod CIDR " + cidr->str() + " (" + ipam_mode + ")");

  info.features = datapath::probe_features(*mounts);
  bool redirect_peer = rp == "auto" ? datapath::has_redirect_peer() : rp == "true";
  for (const auto& f : info.features)
    log::info("features", f.name + ": " + (f.available ? "yes" : "no") + (f.detail.empty() ? "" : " (" + f.detail + ")"));

  auto dp = datapath::Datapath::load({info.bpffs_root, redirect_peer, static_cast<uint32_t>(*flags.get_int("events-ring-size")),
                                      *datapath::parse_map_sizes(flags.get("bpf-map-max-entries"))});
  if (!dp) return fail("loading the datapath: " + dp.error().message);
  info.adopted = (*dp)->adopted();
  log::info("myelind", std::string(info.adopted ? "adopted pinned datapath state in " : "pinned new datapath maps in ") +
                           info.bpffs_root);

  auto ipam = ipam::Ipam::open(*cidr, state_dir + "/ipam.json");
  if (!ipam) return fail("IPAM: " + ipam.error().message);
  auto store = endpoints::EndpointStore::open(state_dir + "/endpoints.json");
  if (!store) return fail("endpoint store: " + store.error().message);
  metrics::AgentCounters counters;
  objects::ObjectStore objects;  // the Kubernetes objects, from the sources below; components subscribe
  // Security identities. A single node: its state file. etcd: pod identities
  // by CAS in the store, the same number on every node, CIDR identities this
  // node's from 2^24 (ScopedIdentities). The Kubernetes API: MyelinIdentity
  // objects (CIDR identities kept locally by KubeIdentities itself).
  std::unique_ptr<identity::IdentityAllocator> local_ids;
  std::unique_ptr<kvstore::EtcdIdentities> etcd_ids;
  std::unique_ptr<kube::KubeIdentities> kube_ids;
  std::unique_ptr<identity::ScopedIdentities> scoped_ids;
  identity::Identities* ids = nullptr;
  if (etcd) {
    kvstore::EtcdIdentitiesOptions io;
    io.cluster = flags.get("cluster-name");
    io.node = info.node_name;
    io.state_file = state_dir + "/cluster-identities.json";  // restored endpoints keep their references
    auto ei = kvstore::EtcdIdentities::open(*etcd, *session, io);
    if (!ei) return fail("cluster identities: " + ei.error().message);
    etcd_ids = std::move(*ei);
    auto local = identity::IdentityAllocator::open(state_dir + "/local-identities.json", identity::kFirstLocalIdentity);
    if (!local) return fail("local identities: " + local.error().message);
    local_ids = std::move(*local);
    scoped_ids = std::make_unique<identity::ScopedIdentities>(*etcd_ids, *local_ids);
    ids = scoped_ids.get();
  } else if (kube_cluster) {
    kube::KubeIdentitiesOptions ko;
    ko.node = info.node_name;
    ko.refs_file = state_dir + "/kube-identity-refs.json";
    ko.local_file = state_dir + "/local-identities.json";
    auto ki = kube::KubeIdentities::open(*kube_cluster, ko);
    if (!ki) return fail("cluster identities (MyelinIdentity): " + ki.error().message);
    kube_ids = std::move(*ki);
    ids = kube_ids.get();
  } else {
    auto local = identity::IdentityAllocator::open(state_dir + "/identities.json");
    if (!local) return fail("identities: " + local.error().message);
    local_ids = std::move(*local);
    ids = local_ids.get();
  }
  // The other nodes (fed by the kvstore / Kubernetes backends), written into
  // the ipcache and the node's routes by the node datapath; it adopts the
  // pinned cluster entries now, so policy leaves them alone from its first
  // regeneration.
  cluster::ClusterState cluster_state(info.node_name);
  // This node's place in it: its underlay address, device and MTU.
  auto cnode = cluster_node(flags, etcd || kube_cluster);
  if (!cnode && etcd) return usage_error(cnode.error().message);
  if (!cnode) {  // the API alone names no address: this node stays single, and says why
    log::warn("cluster", cnode.error().message + ": a single node");
    cnode = ClusterNode{};
  }
  kvstore::KvstoreComponent* kvstore = nullptr;          // with --kvstore: publishes this node's endpoints
  agent::PolicyManager* policy_ref = nullptr;  // set below: the node datapath outlives it
  cluster::NodesComponent::Options nodes_opts;
  if (cnode->clustered) nodes_opts.sources = {etcd ? cluster::Source::etcd : cluster::Source::kubernetes};
  nodes_opts.mode = nodes_opts.sources.empty() ? cluster::RoutingMode::none
                    : flags.get("routing-mode") == "native" ? cluster::RoutingMode::native : cluster::RoutingMode::tunnel;
  nodes_opts.node_name = info.node_name;
  if (cnode->clustered) nodes_opts.node_ip = cnode->ip;
  nodes_opts.pod_cidr = *cidr;
  if (!cnode->clustered || etcd) {
    // Node objects (the manifests directory's) route nothing here: a single
    // node has no store to share identities through, and with --kvstore the
    // nodes are those with a record in etcd. Listed with that reason.
    nodes_opts.unrouted_nodes = [&objects] { return cluster::nodes_from(objects.list<objects::Node>(), cluster::Source::manifests); };
    nodes_opts.unrouted_reason = etcd ? "not routed: with --kvstore the cluster's nodes are those with a record in etcd"
                                      : "not routed: a single node (no --kvstore and no Kubernetes API to share identities with it)";
  }
  cluster::NodeDatapath node_dp(cluster_state, **dp, {nodes_opts.mode, *cidr, nodes_opts.sources},
                                {[&policy_ref] { return policy_ref ? policy_ref->policy_cidrs() : std::vector<std::pair<net::Cidr4, uint32_t>>{}; },
                                 [&policy_ref] {
                                   // Never before the agent's own first regeneration: the object
                                   // sources may not even be registered yet (a regeneration over an
                                   // empty store would lift restored endpoints' enforcement).
                                   if (policy_ref && policy_ref->revision() > 0 && policy_ref->objects_synced()) (void)policy_ref->regenerate();
                                 }});
  node_dp.adopt();
  agent::EndpointManager endpoints(**dp, **ipam, **store, *ids, counters);
  agent::PolicyManager policies(**dp, endpoints, **store, *ids, counters, objects, flags.get_bool("policy-audit-mode"),
                                flags.get("allow-localhost") == "always");
  policy_ref = &policies;
  policies.set_cluster(&cluster_state);
  policies.set_ipcache_owner([&node_dp](const myelin_ipcache_key& k) { return node_dp.owns(k); });
  // A regeneration can change endpoints' identities (a Pod's labels): the
  // kvstore republishes them (native mode's other nodes read them there).
  policies.set_on_regenerated([&node_dp, &kvstore] {
    node_dp.policy_changed();
    if (kvstore) kvstore->endpoints_changed();
  });
  // The Kubernetes API's Nodes and other nodes' Pods into the cluster state
  // (remote pods whose labels have no number yet wait for one: resync).
  std::unique_ptr<cluster::ObjectsFeed> objects_feed;
  if (cnode->clustered && !etcd)
    objects_feed = std::make_unique<cluster::ObjectsFeed>(objects, cluster_state, *ids, cluster::Source::kubernetes);
  ids->on_change([&node_dp, &objects_feed] {
    node_dp.identities_changed();
    if (objects_feed) objects_feed->resync();
  });
  endpoints.set_label_source([&policies](const std::string& ns, const std::string& pod) {
    return policies.identity_labels(ns, pod);
  });
  // Services: made once the load-balancing maps are open (below); endpoint
  // changes of the restore before that are read at its first computation.
  std::unique_ptr<services::ServiceManager> services;
  endpoints.set_on_change([&policies, &services, &kvstore] {
    policies.publish_endpoints();
    if (services) services->endpoints_changed();
    if (kvstore) kvstore->endpoints_changed();
  });
  // The node's routing before the endpoints are restored; a tunnel device of
  // an earlier start keeps its index (cross-node traffic never stops).
  // Native mode's routing field; tunnel mode's is TunnelComponent's (a
  // restart keeps the pinned TUNNEL config, so encapsulation never pauses),
  // and a single node's config is left as it is.
  if (cnode->clustered && !cnode->tunnel)
    if (auto s = (*dp)->set_node_config(node_config((*dp)->node_config(), *cnode, 0)); !s) return fail("node config: " + s.error().message);
  auto restored = endpoints.restore();
  if (!restored) return fail("restoring endpoints: " + restored.error().message);
  log::info("myelind", "restored " + std::to_string(*restored) + " endpoints");
  // Every endpoint runs this build's programs now: migrated maps take their pins.
  if (auto s = (*dp)->complete_upgrade(); !s) return fail("upgrading the pinned maps: " + s.error().message);

  // Services: the load-balancing maps the pod datapath pinned, with the ids
  // they held before this start. The ServiceManager hands it its tables.
  services::LbWriterOptions lb_opts;
  lb_opts.pin_dir = info.bpffs_root;
  lb_opts.algorithm = *services::parse_lb_algorithm(flags.get("lb-algorithm"));  // validated
  lb_opts.maglev_m = static_cast<uint32_t>(*flags.get_int("lb-maglev-table-size"));
  const auto node_ports = *nodeport::parse_port_range(flags.get("node-port-range"));  // validated
  lb_opts.node_port_min = node_ports.min;
  lb_opts.node_port_max = node_ports.max;
  auto lb_writer = services::LbWriter::open(lb_opts);
  if (!lb_writer) return fail("load-balancing maps: " + lb_writer.error().message);
  // The table the objects and this node's endpoints say, handed to the writer.
  services = std::make_unique<services::ServiceManager>(
      objects, **lb_writer, [&eps = **store] { return agent::local_endpoints(eps); },
      services::ServiceManager::Options{info.node_name, flags.get("k8s-service-proxy-name"),
                                        lb_opts.algorithm == services::LbAlgorithm::maglev, node_ports.min, node_ports.max});

  // Tunnel mode in a cluster only: a single node routes nothing to other nodes.
  std::optional<tunnel::Underlay> underlay;
  if (cnode->clustered && cnode->tunnel) {
    auto u = tunnel::resolve_underlay(cnode->ip);
    if (!u) return fail("tunnel mode: " + u.error().message);
    underlay = *u;
  }

  flows::FlowStore flow_store(static_cast<size_t>(*flags.get_int("flow-store-size")));
  auto decoder = agent::make_flow_decoder(info.node_name, policies);
  decoder.set_frontends([&w = **lb_writer] { return w.index(); });  // flows name their Services
  if (underlay) decoder.set_node_ip(underlay->node_ip.network_order());  // the local end of flows' `tunnel`

  agent::EventPump pump(**dp, decoder, flow_store, counters);
  agent::ConntrackGc ct_gc(**dp, datapath::CtTimeouts{}, std::chrono::seconds(*flags.get_int("ct-gc-interval")), counters);

  // Runtime: process lifecycle, attributed to pods by cgroup or network namespace.
  auto pod_of_netns = [&store = **store, cache = std::make_shared<runtime::PodIndex>()](uint32_t netns,
                                                                                       uint64_t cgroup_id) -> std::optional<runtime::PodRef> {
    return cache->lookup(store, netns, cgroup_id);
  };

  // The agent's parts, in start order (stopped in reverse); each answers its
  // own API requests, metrics and part of `status`.
  server::Router router;
  component::Components components(info.features);
  components.add<agent::AgentComponent>(info, components);
  components.add<agent::DatapathComponent>(**dp, pump);
  components.add<agent::ConntrackGcComponent>(ct_gc);
  // Masquerade's fields of the node config, before the devices' programs read them.
  masquerade::MasqueradeComponent::Options masq;
  masq.enabled = flags.get("masquerade") == "true";
  if (cnode->clustered) masq.node_ip = cnode->ip;
  else if (!flags.get("node-ip").empty()) masq.node_ip = *net::parse_ipv4(flags.get("node-ip"));  // validated
  if (!flags.get("native-routing-cidr").empty()) masq.native_cidr = *net::parse_cidr4(flags.get("native-routing-cidr"));  // validated
  components.add<masquerade::MasqueradeComponent>(**dp, masq);
  components.add<nodeport::NodePortComponent>(
      **dp, nodeport::NodePortComponent::Options{flags.get("devices"), node_ports, redirect_peer, [&svc = *services](const std::vector<nodeport::Device>& devs) {
                                                   std::vector<net::Ipv4> addrs;  // NodePorts are served on these
                                                   for (const auto& d : devs) addrs.insert(addrs.end(), d.addrs.begin(), d.addrs.end());
                                                   svc.set_node_addresses(std::move(addrs));
                                                 }});
  // Without tunnel mode it undoes what an earlier start in tunnel mode left.
  auto& tunnel_component = components.add<tunnel::TunnelComponent>(**dp, tunnel::TunnelComponent::Options{underlay.has_value(), underlay.value_or(tunnel::Underlay{}),
                                                                                redirect_peer});
  auto& ipam_component = components.add<agent::IpamComponent>(**ipam, *cidr);
  if (underlay) ipam_component.set_mtu(underlay->mtu, tunnel::pod_route_mtu(underlay->mtu));
  components.add<agent::EndpointsComponent>(endpoints, **store, policies);
  components.add<agent::PolicyComponent>(policies, **store, *ids).set_services([&svc = *services] {
    auto snap = svc.snapshot();
    return snap ? std::shared_ptr<const services::ServiceTable>(snap, &snap->table) : nullptr;  // `policy trace --to-service`
  });
  components.add<agent::FlowsComponent>(flow_store, info.node_name);
  if (underlay)  // routes to other nodes' pod CIDRs through the VXLAN device, made at the tunnel component's start
    nodes_opts.tunnel_device = [&tunnel_component, mtu = tunnel::pod_route_mtu(underlay->mtu)] {
      return std::pair<int, unsigned>{tunnel_component.tunnel_ifindex(), mtu};
    };
  components.add<cluster::NodesComponent>(cluster_state, &node_dp, nodes_opts);
  components.add<agent::ObjectsComponent>(objects);
  components.add<agent::ServicesComponent>(*services, objects);
  components.add<services::LbComponent>(**lb_writer);
  components.add<metrics::AgentCountersComponent>(counters);
  if (etcd) {
    // This node's record and endpoints under its lease (the session the
    // identities share); the others' into cluster_state. The store
    // unreachable is not an error: degraded.
    auto so = kvstore::sync_options(flags, info.node_name, cnode->ip, *cidr);
    so.session = session.get();
    so.local_endpoints = [&eps = **store, &objects, node = info.node_name] { return kvstore::published_endpoints(eps, objects, node); };
    kvstore = &components.add<kvstore::KvstoreComponent>(*etcd, cluster_state, std::move(so));
    kvstore->watch_pods(objects);
  }
  if (flags.is_set("flow-log")) {
    google::protobuf::RepeatedPtrField<flow::FlowFilter> allow, deny;
    for (auto [list, name] : {std::pair{&allow, "flow-log-allow"}, std::pair{&deny, "flow-log-deny"}})
      for (const auto& json : flags.get_all(name)) (void)google::protobuf::util::JsonStringToMessage(json, list->Add());  // validated
    auto filters = flows::FilterSet::compile(allow, deny);
    if (!filters) return usage_error("flow log filter: " + filters.error().message);
    flowlog::Options o{flags.get("flow-log"), *config::parse_size(flags.get("flow-log-max-size")),
                       static_cast<unsigned>(*flags.get_int("flow-log-max-backups")), info.node_name};
    components.add<flowlog::FlowLogComponent>(o, flow_store, std::move(*filters));
  }
  auto& runtime = components.add<runtime::RuntimeComponent>(flags.get("runtime-events") == "true", info.node_name, pod_of_netns,
                                                            static_cast<size_t>(*flags.get_int("runtime-event-store-size")));
  components.add<runtime::GpuComponent>(flags.get("gpu-libs"), runtime, pod_of_netns);
  components.add<runtime::StorageComponent>(flags.get("storage-events") == "true", runtime, pod_of_netns);
  if (flags.get("network-events") == "true") components.add<runtime::SocketComponent>(runtime, *mounts);
  if (flags.is_set("events-log"))
    components.add<runtime::EventsLogComponent>(
        runtime, RotatingFile::Options{flags.get("events-log"), *config::parse_size(flags.get("events-log-max-size")),
                                       static_cast<unsigned>(*flags.get_int("events-log-max-backups")), "eventslog"});
  // Socket-level Services (--cgroup-root); connected UDP sockets of the backends
  // the writer removed are destroyed.
  auto& sock_lb = components.add<services::SockLbComponent>(
      services::SockLbComponent::Options{flags.get("socket-lb") == "true", flags.get("cgroup-root")}, **dp, decoder, flow_store,
      counters, [pod_of_netns](uint32_t netns, uint64_t cgroup_id) {
        auto pod = pod_of_netns(netns, cgroup_id);
        return pod ? pod->endpoint_id : 0u;
      });
  (*lb_writer)->on_backends_removed([&sock_lb](const std::vector<services::RemovedBackend>&) { sock_lb.backends_removed(); });
  auto& tracing = components.add<tracing::TracingComponent>(runtime, info.features, *mounts, &**store, objects);
  components.add<agent::RefusalsComponent>(policies, [&tracing] { return tracing.manager(); });
  if (!flags.get("metrics-addr").empty())
    components.add<metrics::MetricsExporter>(flags.get("metrics-addr"), [&components](metrics::MetricSink& s) { components.collect(s); });

  if (flags.is_set("manifests")) {
    sources::ManifestSource::Limits limits;
    limits.max_file_bytes = *config::parse_size(flags.get("manifest-max-size"));
    components.add<sources::ManifestsComponent>(flags.get("manifests"), objects, limits);
  }
  // The API server: from --kubeconfig, or in-cluster when running in a pod.
  if (kube_cluster) {
    components.add<sources::KubeComponent>(*kube_cluster, objects,
                                           [&counters](const std::string& r, const std::string& a) { counters.k8s_event(r, a); },
                                           std::chrono::seconds(*flags.get_int("k8s-sync-timeout")));
  }

  if (auto s = components.check_features(); !s) return fail(s.error().message);
  if (auto s = components.start(); !s) return fail(s.error().message);
  if (!flags.is_set("manifests") && !kube_cluster) (void)policies.regenerate();

  components.routes(router);
  if (auto s = router.check(); !s) return fail(s.error().message);
  server::ApiServer server(socket_path, router, api_access);
  if (auto s = server.start(); !s) return fail("API socket: " + s.error().message);
  router.set_ready(true);
  log::info("myelind", "ready: node " + info.node_name + ", pod CIDR " + cidr->str() + ", API on " + socket_path +
                           " (root" + (api_access.group ? " and group " + api_access.group_name : std::string(" only")) + ")");

  int sig = 0;
  sigwait(&sigs, &sig);
  log::info("myelind", std::string("stopping on ") + strsignal(sig) + "; programs stay attached, maps stay pinned");
  router.set_ready(false);
  flow_store.shutdown();
  server.stop();
  components.stop();
  return 0;
}
