// SPDX-License-Identifier: Apache-2.0
// myelind: the node agent. main() only parses flags and wires the small
// components together; each of them owns one job (see daemon/*/).
//
//   flags -> pseudo-filesystems (bpffs, tracefs, securityfs) -> feature probe
//         -> Datapath (pinned maps adopted)
//         -> IPAM / endpoint store / identities (state dir)
//         -> EndpointManager::restore (re-attach by atomic replace)
//         -> EventPump (ring buffer -> FlowStore), ConntrackGc, ApiServer
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

#include "agent/api_handlers.hpp"
#include "agent/conntrack_gc.hpp"
#include "agent/endpoint_manager.hpp"
#include "agent/event_pump.hpp"
#include "agent/policy_manager.hpp"
#include "runtime/events_log.hpp"
#include "runtime/pod_index.hpp"
#include "tracing/tracing_manager.hpp"
#include "runtime/runtime_monitor.hpp"
#include "runtime/socket_monitor.hpp"
#include "sources/kube_source.hpp"
#include "sources/manifest_source.hpp"
#include "flowlog/flow_log.hpp"
#include "metrics/agent_counters.hpp"
#include "metrics/exporter.hpp"
#include "agent/refusals.hpp"
#include "myelin/flags.hpp"
#include "myelin/log.hpp"
#include "myelin/pseudo_fs.hpp"
#include "server/api_server.hpp"

#ifndef MYELIN_VERSION
#define MYELIN_VERSION "0.0.0"
#endif

namespace {

using namespace myelin;

int fail(const std::string& what) {
  log::error("myelind", what);
  return 1;
}

std::string hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

Flags make_flags() {
  Flags f(
      "myelind: Myelin's node agent (eBPF pod networking and flow observability).\n"
      "Runs in the network namespace it is started in: that namespace is the node.\n\n"
      "Usage: myelind --pod-cidr CIDR [flags]");
  f.add("node-name", "name of this node", hostname());
  f.add("pod-cidr", "IPv4 CIDR pod addresses are allocated from, e.g. 10.244.1.0/24");
  f.add("api-socket", "Unix socket for the CLI and the CNI plugin", "/var/run/myelin/myelin.sock");
  f.add("api-socket-group", "group (name or gid) whose members may use the API socket besides root; empty: root only");
  f.add("bpffs-root", "directory under bpffs where maps are pinned", "/sys/fs/bpf/myelin/<node-name>");
  f.add("state-dir", "directory for IPAM, endpoint and identity state", "/var/lib/myelin/<node-name>");
  f.add("flow-store-size", "flows kept in memory for `myelin observe`", "16384");
  f.add("ct-gc-interval", "seconds between conntrack garbage collections", "30");
  f.add("events-ring-size", "bytes of the datapath's event ring buffer (power of two)", "4194304");
  f.add("bpf-map-max-entries", "capacities of the datapath maps, e.g. conntrack=524288,policy=65536 (endpoints, conntrack, ipcache, policy, fragments); "
                              "a pinned map of another size is refused");
  f.add("redirect-peer", "deliver locally with bpf_redirect_peer: auto, true or false", "auto");
  f.add("manifests", "directory of Kubernetes YAML (Namespace, Pod, NetworkPolicy, CiliumNetworkPolicy, ...), watched live");
  f.add("manifest-max-size", "largest manifest file read: MiB, or with a K/M/G suffix; larger ones are refused", "16");
  f.add("kubeconfig", "watch the Kubernetes API server of this kubeconfig (in a pod, the service account is used without it)");
  f.add("k8s-sync-timeout", "seconds to wait for the first list of every resource before serving", "60");
  f.add_bool("policy-audit-mode", "report policy verdicts as AUDIT and never drop for policy");
  f.add("allow-localhost", "always: the node (kubelet probes) reaches its pods whatever their ingress policy; policy: only where policy allows the host entity", "always");
  f.add("metrics-addr", "Prometheus metrics listen address (/metrics); empty disables", ":9962");
  f.add("flow-log", "write flows as JSON lines (hubble observe -o json shape) to this file");
  f.add("flow-log-max-size", "rotate the flow log at this size: MiB, or with a K/M/G suffix", "100");
  f.add("flow-log-max-backups", "rotated flow logs kept", "3");
  f.add("flow-log-allow", "only log flows matching this Hubble FlowFilter (JSON)", "", true);
  f.add("flow-log-deny", "never log flows matching this Hubble FlowFilter (JSON)", "", true);
  f.add("runtime-events", "record process exec/exit events (`myelin events`): true or false", "true");
  f.add("runtime-event-store-size", "runtime events kept in memory", "16384");
  f.add("storage-events", "count block I/O per device and process with latency histograms: true or false", "true");
  f.add("network-events", "report each process's TCP connect, accept and close (process_kprobe events): true or false", "false");
  f.add("gpu-libs", "CUDA libraries to probe (comma-separated paths), auto (where CUDA installs them) or none", "auto");
  f.add("events-log", "write runtime events as JSON lines (tetra getevents -o json shape) to this file");
  f.add("events-log-max-size", "rotate the events log at this size: MiB, or with a K/M/G suffix", "100");
  f.add("events-log-max-backups", "rotated events logs kept", "3");
  f.add("log-level", "debug, info, warn or error", "info");
  f.add_bool("probe", "print what this kernel supports (the start-up feature report) and exit");
  return f;
}

std::string expand(std::string v, const std::string& node) {
  auto p = v.find("<node-name>");
  if (p != std::string::npos) v.replace(p, 11, node);
  return v;
}

// "100" (MiB), "512K", "10M", "2G" -> bytes.
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

Status make_dirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{"cannot create " + dir + ": " + ec.message()};
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = make_flags();
  if (auto s = flags.parse(argc, argv); !s) {
    std::cerr << "myelind: " << s.error().message << "\n";
    return 2;
  }
  if (flags.help_requested()) {
    std::cout << flags.help();
    return 0;
  }
  const std::string level = flags.get("log-level");
  if (level == "debug") log::set_level(log::Level::debug);
  else if (level == "warn") log::set_level(log::Level::warn);
  else if (level == "error") log::set_level(log::Level::error);
  else if (level != "info") {
    std::cerr << "myelind: --log-level must be debug, info, warn or error, not '" << level << "'\n";
    return 2;
  }
  // Mounted once, first: every component after this finds them (a fresh machine has none).
  auto mounts = pseudofs::Mounts::ensure();
  if (!mounts) return fail(mounts.error().message);
  if (flags.get_bool("probe")) {
    for (const auto& f : datapath::probe_features(*mounts))
      std::cout << f.name << ": " << (f.available ? "yes" : "no") << (f.detail.empty() ? "" : " (" + f.detail + ")") << "\n";
    return 0;
  }
  if (!flags.is_set("pod-cidr")) {
    std::cerr << "myelind: --pod-cidr is required (e.g. --pod-cidr 10.244.1.0/24)\n";
    return 2;
  }
  auto cidr = net::parse_cidr4(flags.get("pod-cidr"));
  if (!cidr) {
    std::cerr << "myelind: --pod-cidr: " << cidr.error().message << "\n";
    return 2;
  }
  if (cidr->prefix > 30) {
    std::cerr << "myelind: --pod-cidr " << cidr->str() << " leaves no usable pod addresses (need /30 or larger)\n";
    return 2;
  }
  auto store_size = flags.get_int("flow-store-size");
  auto gc_interval = flags.get_int("ct-gc-interval");
  if (!store_size || *store_size < 1) return std::cerr << "myelind: --flow-store-size must be a positive number\n", 2;
  if (!gc_interval || *gc_interval < 1) return std::cerr << "myelind: --ct-gc-interval must be a positive number\n", 2;
  const std::string rp = flags.get("redirect-peer");
  if (rp != "auto" && rp != "true" && rp != "false")
    return std::cerr << "myelind: --redirect-peer must be auto, true or false\n", 2;
  for (const char* b : {"storage-events", "network-events"})
    if (flags.get(b) != "true" && flags.get(b) != "false") return std::cerr << "myelind: --" << b << " must be true or false\n", 2;
  if (flags.get("runtime-events") != "true" && flags.get("runtime-events") != "false")
    return std::cerr << "myelind: --runtime-events must be true or false\n", 2;
  if (flags.get("allow-localhost") != "always" && flags.get("allow-localhost") != "policy")
    return std::cerr << "myelind: --allow-localhost must be always or policy\n", 2;

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
  info.pod_cidr = *cidr;
  info.bpffs_root = expand(flags.get("bpffs-root"), info.node_name);
  info.started = google::protobuf::util::TimeUtil::GetCurrentTime();
  const std::string state_dir = expand(flags.get("state-dir"), info.node_name);
  const std::string socket_path = flags.get("api-socket");
  SocketAccess api_access;
  if (!flags.get("api-socket-group").empty()) {
    auto a = resolve_socket_group(flags.get("api-socket-group"));
    if (!a) return std::cerr << "myelind: --api-socket-group: " << a.error().message << "\n", 2;
    api_access = *a;
  }

  if (auto s = make_dirs(state_dir); !s) return fail(s.error().message);
  if (auto s = make_dirs(std::filesystem::path(socket_path).parent_path().string()); !s) return fail(s.error().message);
  if (auto s = datapath::make_pin_dir(info.bpffs_root); !s) return fail("--bpffs-root: " + s.error().message);

  info.features = datapath::probe_features(*mounts);
  bool redirect_peer = rp == "auto" ? datapath::has_redirect_peer() : rp == "true";
  for (const auto& f : info.features)
    log::info("features", f.name + ": " + (f.available ? "yes" : "no") + (f.detail.empty() ? "" : " (" + f.detail + ")"));

  auto ring = flags.get_int("events-ring-size");
  if (!ring || *ring < 4096 || *ring > (1ll << 30) || (*ring & (*ring - 1)))
    return std::cerr << "myelind: --events-ring-size must be a power of two from 4096 to 1G\n", 2;
  auto sizes = datapath::parse_map_sizes(flags.get("bpf-map-max-entries"));
  if (!sizes) return std::cerr << "myelind: --bpf-map-max-entries: " << sizes.error().message << "\n", 2;
  auto dp = datapath::Datapath::load({info.bpffs_root, redirect_peer, static_cast<uint32_t>(*ring), *sizes});
  if (!dp) return fail("loading the datapath: " + dp.error().message);
  info.adopted = (*dp)->adopted();
  log::info("myelind", std::string(info.adopted ? "adopted pinned datapath state in " : "pinned new datapath maps in ") +
                           info.bpffs_root);

  auto ipam = ipam::Ipam::open(*cidr, state_dir + "/ipam.json");
  if (!ipam) return fail("IPAM: " + ipam.error().message);
  auto store = endpoints::EndpointStore::open(state_dir + "/endpoints.json");
  if (!store) return fail("endpoint store: " + store.error().message);
  auto identities = identity::IdentityAllocator::open(state_dir + "/identities.json");
  if (!identities) return fail("identities: " + identities.error().message);

  metrics::AgentCounters counters;
  objects::ObjectStore objects;  // the Kubernetes objects, from the sources below; components subscribe
  agent::EndpointManager endpoints(**dp, **ipam, **store, **identities, counters);
  agent::PolicyManager policies(**dp, endpoints, **store, **identities, counters, objects, flags.get_bool("policy-audit-mode"),
                                flags.get("allow-localhost") == "always");
  endpoints.set_label_source([&policies](const std::string& ns, const std::string& pod) {
    return policies.identity_labels(ns, pod);
  });
  auto restored = endpoints.restore();
  if (!restored) return fail("restoring endpoints: " + restored.error().message);
  log::info("myelind", "restored " + std::to_string(*restored) + " endpoints");
  // Every endpoint runs this build's programs now: migrated maps take their pins.
  if (auto s = (*dp)->complete_upgrade(); !s) return fail("upgrading the pinned maps: " + s.error().message);

  flows::FlowStore flow_store(static_cast<size_t>(*store_size));
  auto* store_ptr = store->get();
  auto* ids_ptr = identities->get();
  flows::FlowDecoder decoder(
      info.node_name,
      [store_ptr, ids_ptr, &policies](uint32_t id) -> std::optional<flows::FlowDecoder::EndpointView> {
        auto ep = store_ptr->get_by_id(id);
        if (!ep) return std::nullopt;
        flows::FlowDecoder::EndpointView v;
        v.id = ep->id();
        v.identity = ep->identity();
        v.ns = ep->pod_namespace();
        v.pod_name = ep->pod_name();
        if (auto labels = ids_ptr->labels(ep->identity())) v.labels = *labels;
        for (const auto& w : policies.workloads(v.ns.empty() ? "default" : v.ns, v.pod_name)) v.workloads.emplace_back(w.kind, w.name);
        return v;
      },
      [](uint32_t ifindex) {
        char name[IF_NAMESIZE] = {};
        return std::string(if_indextoname(ifindex, name) ? name : "");
      },
      [&policies](const myelin_flow_event& ev, flow::Flow& f) { agent::annotate_policy(policies, ev, f); });

  agent::EventPump pump(**dp, decoder, flow_store, counters);
  if (auto s = pump.start(); !s) return fail("ring buffer: " + s.error().message);
  agent::ConntrackGc ct_gc(**dp, datapath::CtTimeouts{}, std::chrono::seconds(*gc_interval), counters);
  ct_gc.start();

  std::unique_ptr<flowlog::FlowLog> flow_log;
  if (flags.is_set("flow-log")) {
    google::protobuf::RepeatedPtrField<flow::FlowFilter> allow, deny;
    for (auto [list, name] : {std::pair{&allow, "flow-log-allow"}, std::pair{&deny, "flow-log-deny"}})
      for (const auto& json : flags.get_all(name))
        if (!google::protobuf::util::JsonStringToMessage(json, list->Add()).ok())
          return std::cerr << "myelind: --" << name << ": not a Hubble FlowFilter in JSON: " << json << "\n", 2;
    auto filters = flows::FilterSet::compile(allow, deny);
    if (!filters) return std::cerr << "myelind: flow log filter: " << filters.error().message << "\n", 2;
    auto max_size = parse_size(flags.get("flow-log-max-size"));
    auto backups = flags.get_int("flow-log-max-backups");
    if (!max_size || *max_size < 1024 || !backups || *backups < 0)
      return std::cerr << "myelind: --flow-log-max-size must be at least 1K (e.g. 100, 512K, 2G) and "
                          "--flow-log-max-backups >= 0\n", 2;
    flowlog::Options o{flags.get("flow-log"), *max_size, static_cast<unsigned>(*backups), info.node_name};
    flow_log = std::make_unique<flowlog::FlowLog>(o, flow_store, std::move(*filters));
    if (auto s = flow_log->start(); !s) return fail("flow log: " + s.error().message);
  }

  // Runtime: process lifecycle, attributed to pods by cgroup or network namespace.
  auto pod_of_netns = [&store = **store, cache = std::make_shared<runtime::PodIndex>()](uint32_t netns,
                                                                                       uint64_t cgroup_id) -> std::optional<runtime::PodRef> {
    return cache->lookup(store, netns, cgroup_id);
  };
  std::unique_ptr<runtime::RuntimeMonitor> runtime_monitor;
  std::string runtime_error;
  if (flags.get("runtime-events") == "true") {
    auto pods = pod_of_netns;
    long size = std::atol(flags.get("runtime-event-store-size").c_str());
    runtime_monitor = std::make_unique<runtime::RuntimeMonitor>(info.node_name, pods, size > 0 ? static_cast<size_t>(size) : 16384);
    if (auto s = runtime_monitor->start(); !s) {
      runtime_error = s.error().message;
      log::warn("runtime", "process events are off: " + runtime_error);
      runtime_monitor.reset();
    }
  }

  // GPU: uprobes on the CUDA libraries, when there are any.
  std::unique_ptr<runtime::GpuMonitor> gpu_monitor;
  if (flags.get("gpu-libs") != "none") {
    auto libs = runtime::GpuMonitor::find_libraries(flags.get("gpu-libs"));
    if (libs.empty()) {
      log::info("gpu", "no CUDA library found: GPU probes off (--gpu-libs PATH,... to give them)");
    } else if (auto g = datapath::GpuProbes::attach(libs); !g) {
      log::warn("gpu", "GPU probes off: " + g.error().message);
    } else {
      log::info("gpu", std::to_string((*g)->attached().size()) + " CUDA entry points probed in " + std::to_string(libs.size()) + " libraries");
      gpu_monitor = std::make_unique<runtime::GpuMonitor>(std::move(*g), runtime_monitor.get(), pod_of_netns);
    }
  }

  // Storage: block I/O per device and process.
  std::unique_ptr<runtime::StorageMonitor> storage_monitor;
  if (flags.get("storage-events") == "true") {
    if (auto p = datapath::StorageProbes::start(); !p)
      log::warn("storage", "block I/O probes off: " + p.error().message);
    else {
      storage_monitor = std::make_unique<runtime::StorageMonitor>(std::move(*p), runtime_monitor.get(), pod_of_netns);
      log::info("storage", "block I/O probes attached (tp_btf block_rq_issue/complete)");
    }
  }

  // Network per process: TCP connect/accept/close with the process and pod.
  std::unique_ptr<runtime::SocketMonitor> socket_monitor;
  if (flags.get("network-events") == "true") {
    if (!runtime_monitor) return fail("--network-events needs runtime events: " + (runtime_error.empty() ? "--runtime-events=false" : runtime_error));
    const auto& tracefs = (*mounts)[pseudofs::Fs::tracefs];
    if (!tracefs.available) return fail("--network-events needs tracefs: " + tracefs.error);
    auto m = runtime::SocketMonitor::start(*runtime_monitor, tracefs.path());
    if (!m) return fail("--network-events: " + m.error().message);
    socket_monitor = std::move(*m);
    log::info("network", "TCP sensor attached (connect/accept syscall tracepoints found in " + tracefs.path() + ")");
  }

  std::unique_ptr<runtime::EventsLog> events_log;
  if (flags.is_set("events-log")) {
    if (!runtime_monitor) return fail("--events-log needs runtime events: " + (runtime_error.empty() ? "--runtime-events=false" : runtime_error));
    auto size = parse_size(flags.get("events-log-max-size"));
    if (!size) return fail("--events-log-max-size: '" + flags.get("events-log-max-size") + "' is not a size (e.g. 100, 512K, 10M)");
    events_log = std::make_unique<runtime::EventsLog>(
        *runtime_monitor, RotatingFile::Options{flags.get("events-log"), *size,
                                                static_cast<unsigned>(std::atoi(flags.get("events-log-max-backups").c_str())), "eventslog"});
    if (auto s = events_log->start(); !s) return fail("events log: " + s.error().message);
  }

  // TracingPolicies (from the manifests directory) on top of the process probes.
  std::unique_ptr<tracing::TracingManager> tracing_manager;
  if (runtime_monitor) {
    const auto& tracefs = (*mounts)[pseudofs::Fs::tracefs];
    if (!tracefs.available) {
      log::warn("tracing", "TracingPolicies are off: tracefs unavailable: " + tracefs.error);
    } else {
      tracing_manager = std::make_unique<tracing::TracingManager>(*runtime_monitor, info.features, tracefs.path(), &**store);
      if (auto s = tracing_manager->start(); !s) {
        log::warn("tracing", "TracingPolicies are off: " + s.error().message);
        tracing_manager.reset();
      } else {
        tracing_manager->subscribe(objects);
      }
    }
  }

  std::unique_ptr<metrics::MetricsExporter> exporter;
  if (!flags.get("metrics-addr").empty()) {
    auto e = metrics::MetricsExporter::start(
        flags.get("metrics-addr"), metrics::Sources{**dp, **store, **identities, flow_store, ct_gc, counters, info.version, flow_log.get(),
                         [&policies] { return static_cast<uint64_t>(policies.policy_count()); }, runtime_monitor.get(), gpu_monitor.get(),
                         storage_monitor.get(), socket_monitor.get(),
                         [&tracing_manager]() -> uint64_t { return tracing_manager ? tracing_manager->ring_stats().events_lost : 0; },
                         [&policies, &tracing_manager] { return agent::count_refused(agent::refused_policies(policies, tracing_manager.get())); }});
    if (!e) return fail(e.error().message);
    exporter = std::move(*e);
    log::info("metrics", "serving Prometheus metrics on " + flags.get("metrics-addr") + "/metrics");
  }

  std::unique_ptr<sources::ManifestSource> manifests;
  if (flags.is_set("manifests")) {
    sources::ManifestSource::Limits limits;
    auto max_size = parse_size(flags.get("manifest-max-size"));
    if (!max_size || *max_size < 1024 || *max_size > (1ull << 30))
      return std::cerr << "myelind: --manifest-max-size must be from 1K to 1G (e.g. 16, 512K, 64M)\n", 2;
    limits.max_file_bytes = *max_size;
    manifests = std::make_unique<sources::ManifestSource>(flags.get("manifests"), objects, limits);
  }
  // The API server: from --kubeconfig, or in-cluster when running in a pod.
  std::unique_ptr<sources::KubeSource> kube_source;
  if (flags.is_set("kubeconfig") || (!flags.is_set("manifests") && std::getenv("KUBERNETES_SERVICE_HOST"))) {
    auto cluster = flags.is_set("kubeconfig") ? kube::load_kubeconfig(flags.get("kubeconfig")) : kube::load_in_cluster();
    if (!cluster) return fail(cluster.error().message);
    kube_source = std::make_unique<sources::KubeSource>(
        *cluster,
        objects,
        [&counters](const std::string& r, const std::string& a) { counters.k8s_event(r, a); });
  }
  // Both sources are known to the store before either starts: policy is
  // first computed once every one of them has synced.
  if (manifests)
    if (auto s = manifests->start(); !s) return fail(s.error().message);
  if (kube_source) {
    int timeout = std::atoi(flags.get("k8s-sync-timeout").c_str());
    // Until every resource is listed, restored endpoints keep the policy they had.
    if (auto s = kube_source->start(std::chrono::seconds(timeout > 0 ? timeout : 60)); !s)
      log::warn("k8s", s.error().message + "; serving anyway, endpoints keep their last policy until the lists complete");
  }
  if (!manifests && !kube_source) (void)policies.regenerate();

  agent::ApiHandlers handlers(info, endpoints, **store, **ipam, flow_store, **dp, pump, ct_gc, policies, runtime_monitor.get(),
                             runtime_error, tracing_manager.get(), gpu_monitor.get(), storage_monitor.get());
  handlers.set_object_store(&objects);
  server::ApiServer server(socket_path, handlers, api_access);
  if (auto s = server.start(); !s) return fail("API socket: " + s.error().message);
  handlers.set_ready(true);
  log::info("myelind", "ready: node " + info.node_name + ", pod CIDR " + cidr->str() + ", API on " + socket_path +
                           " (root" + (api_access.group ? " and group " + api_access.group_name : std::string(" only")) + ")");

  int sig = 0;
  sigwait(&sigs, &sig);
  log::info("myelind", std::string("stopping on ") + strsignal(sig) + "; programs stay attached, maps stay pinned");
  handlers.set_ready(false);
  flow_store.shutdown();
  server.stop();
  if (manifests) manifests->stop();
  if (kube_source) kube_source->stop();
  if (events_log) events_log->stop();
  if (tracing_manager) tracing_manager->stop();
  if (runtime_monitor) runtime_monitor->stop();
  if (flow_log) flow_log->stop();
  pump.stop();
  ct_gc.stop();
  return 0;
}
