// SPDX-License-Identifier: Apache-2.0
#include "api_handlers.hpp"

#include "flow.pb.h"
#include "myelin/abi/net.hpp"
#include "myelin/log.hpp"
#include "myelin/net.hpp"
#include "object_list.hpp"
#include "refusals.hpp"

#include <algorithm>

namespace myelin::agent {
namespace {

api::Response fail(api::ErrorCode code, const std::string& message) {
  api::Response r;
  r.mutable_error()->set_code(code);
  r.mutable_error()->set_message(message);
  return r;
}

api::ErrorCode code_of(const Error& e, api::ErrorCode fallback) {
  return (e.code > 0 && e.code <= api::ALREADY_EXISTS) ? static_cast<api::ErrorCode>(e.code) : fallback;
}

}  // namespace

ApiHandlers::ApiHandlers(const AgentInfo& info, EndpointManager& endpoints, endpoints::EndpointStore& store,
                         ipam::Ipam& ipam, flows::FlowStore& flows, datapath::Datapath& dp, const EventPump& pump,
                         const ConntrackGc& ct_gc, PolicyManager& policies, const runtime::RuntimeMonitor* runtime,
                         std::string runtime_error, const tracing::TracingManager* tracing, const runtime::GpuMonitor* gpu,
                         const runtime::StorageMonitor* storage)
    : info_(info), endpoints_(endpoints), store_(store), ipam_(ipam), flows_(flows), dp_(dp), pump_(pump), ct_gc_(ct_gc),
      policies_(policies), runtime_(runtime), runtime_error_(std::move(runtime_error)), tracing_(tracing), gpu_(gpu), storage_(storage) {}

void ApiHandlers::handle(const api::Request& req, const Reply& reply, const std::atomic<bool>& cancelled) {
  if (req.kind_case() != api::Request::kStatus && !ready_) {
    reply(fail(api::NOT_READY, "agent is starting: datapath not ready yet"));
    return;
  }
  switch (req.kind_case()) {
    case api::Request::kStatus: reply(status()); return;
    case api::Request::kIpamAllocate: reply(ipam_allocate(req.ipam_allocate())); return;
    case api::Request::kIpamRelease: reply(ipam_release(req.ipam_release())); return;
    case api::Request::kEndpointAdd: reply(endpoint_add(req.endpoint_add())); return;
    case api::Request::kEndpointDel: reply(endpoint_del(req.endpoint_del())); return;
    case api::Request::kEndpointGet: reply(endpoint_get(req.endpoint_get())); return;
    case api::Request::kEndpointList: reply(endpoint_list()); return;
    case api::Request::kObserve: observe(req.observe(), reply, cancelled); return;
    case api::Request::kGc: reply(gc(req.gc())); return;
    case api::Request::kPolicyList: reply(policy_list(req.policy_list())); return;
    case api::Request::kIdentityList: reply(identity_list()); return;
    case api::Request::kPolicyTrace: reply(policy_trace(req.policy_trace())); return;
    case api::Request::kEvents: events(req.events(), reply, cancelled); return;
    case api::Request::kTracingPolicyList: reply(tracing_policy_list()); return;
    case api::Request::kGpuList: reply(gpu_list()); return;
    case api::Request::kStorageList: reply(storage_list()); return;
    case api::Request::kObjectList:
      reply(objects_ ? object_list(*objects_, req.object_list()) : fail(api::NOT_READY, "no object store"));
      return;
    case api::Request::KIND_NOT_SET: break;
  }
  reply(fail(api::INVALID_ARGUMENT, "empty or unknown request (client newer than the agent?)"));
}

api::Response ApiHandlers::status() const {
  api::Response r;
  auto* s = r.mutable_status();
  s->set_node_name(info_.node_name);
  s->set_version(info_.version);
  s->set_ready(ready_);
  *s->mutable_started() = info_.started;
  s->set_pod_cidr(info_.pod_cidr.str());
  s->set_gateway(MYELIN_GATEWAY_IPV4);
  s->set_bpffs_root(info_.bpffs_root);
  s->set_adopted(info_.adopted);
  s->set_endpoints(static_cast<uint32_t>(store_.list().size()));
  s->set_ipam_used(ipam_.used());
  s->set_ipam_capacity(ipam_.capacity());
  s->set_flows_stored(flows_.stored());
  s->set_flows_capacity(flows_.capacity());
  s->set_flows_seen(flows_.seen());
  const auto stats = dp_.stats();
  s->set_events_lost_datapath(stats.events_lost);
  s->set_events_sent_datapath(stats.events_sent);
  s->set_events_processed(pump_.events());
  s->set_events_lost_store(flows_.evicted());
  for (const auto& [key, val] : dp_.metrics()) {
    if (key.reason == MYELIN_DROP_NONE) {
      if (key.dir == MYELIN_DIR_INGRESS) s->set_forward_packets_ingress(s->forward_packets_ingress() + val.packets);
      else s->set_forward_packets_egress(s->forward_packets_egress() + val.packets);
      continue;
    }
    auto* d = s->add_drops();
    d->set_reason(flow::DropReason_Name(static_cast<flow::DropReason>(key.reason)));
    if (d->reason().empty()) d->set_reason("DROP_REASON_" + std::to_string(key.reason));
    d->set_direction(abi::direction_name(key.dir));
    d->set_packets(val.packets);
    d->set_bytes(val.bytes);
  }
  for (const auto& f : info_.features) {
    auto* p = s->add_features();
    p->set_name(f.name);
    p->set_available(f.available);
    p->set_detail(f.detail);
  }
  s->set_policy_revision(policies_.revision());
  s->set_runtime_enabled(runtime_ != nullptr);
  // What each TracingPolicy action can guarantee on the running kernel.
  bool lsm = false, fentry = false, fmod_ret = false, syscall_override = false;
  std::string lsm_detail, fentry_detail, fmod_ret_detail, syscall_override_detail;
  for (const auto& f : info_.features) {
    if (f.name == "bpf-lsm") lsm = f.available, lsm_detail = f.detail;
    if (f.name == "fentry") fentry = f.available, fentry_detail = f.detail;
    if (f.name == "fmod_ret") fmod_ret = f.available, fmod_ret_detail = f.detail;
    if (f.name == "fmod_ret-syscalls") syscall_override = f.available, syscall_override_detail = f.detail;
  }
  s->add_runtime_enforcement(lsm ? "Override on lsmhooks (unlink, rename, exec, open): preventive, the operation fails before it happens (BPF-LSM)"
                                 : "Override on lsmhooks: kill-after here, no BPF-LSM (" + lsm_detail +
                                       "): Sigkill at syscall entry, the call may have completed");
  s->add_runtime_enforcement("Sigkill/Signal on tracepoints, uprobes and kprobes: kill-after, the process dies on its way back to user space; the call may have completed");
  s->add_runtime_enforcement(fmod_ret ? "Override on security_* kprobes: preventive, the function returns the errno without running (fmod_ret)"
                                      : "Override on security_* kprobes: kill-after here, runs as Sigkill (fmod_ret: " + fmod_ret_detail + ")");
  s->add_runtime_enforcement(syscall_override
                                 ? "Override on syscall kprobes: preventive, the syscall returns the errno without running (fmod_ret)"
                                 : "Override on syscall kprobes: kill-after here, runs as Sigkill (fmod_ret-syscalls: " + syscall_override_detail + ")");
  if (!fentry) s->add_runtime_enforcement("kprobes: not attachable here (fentry: " + fentry_detail + "); kprobe policies are refused whole");
  s->set_runtime_error(runtime_error_);
  if (runtime_) {
    auto rs = runtime_->stats();
    for (const auto& [k, n] : rs.events) (*s->mutable_runtime_events())[k.first] += n;
    s->set_runtime_lost(rs.lost + (tracing_ ? tracing_->ring_stats().events_lost : 0));
    s->set_runtime_processes(rs.processes);
  }
  s->set_policies(static_cast<uint32_t>(policies_.policy_count()));
  s->set_policy_entries(policies_.installed_entries());
  const auto refused = refused_policies(policies_, tracing_);
  s->set_policies_refused(static_cast<uint32_t>(refused.size()));
  for (const auto& r : refused) {
    s->add_policy_errors(r.message());
    to_proto(r, s->add_refused());
  }
  for (const auto& f : policies_.failures()) s->add_policy_failures(f);
  s->set_conntrack_entries(dp_.ct_count());
  s->set_conntrack_gc_runs(ct_gc_.runs());
  return r;
}

api::Response ApiHandlers::ipam_allocate(const api::IpamAllocateRequest& req) {
  if (req.owner().empty()) return fail(api::INVALID_ARGUMENT, "IPAM allocate needs an owner");
  auto ip = ipam_.allocate(req.owner());
  if (!ip) {
    if (ip.error().code == ENOSPC)
      return fail(api::EXHAUSTED, "no free address in pod CIDR " + info_.pod_cidr.str() + " (" +
                                      std::to_string(ipam_.used()) + " of " + std::to_string(ipam_.capacity()) + " in use)");
    return fail(api::INTERNAL, ip.error().message);
  }
  api::Response r;
  auto* a = r.mutable_ipam_allocate();
  a->set_ip(ip->str());
  a->set_prefix_len(32);
  a->set_gateway(MYELIN_GATEWAY_IPV4);
  a->set_pod_cidr(info_.pod_cidr.str());
  return r;
}

api::Response ApiHandlers::ipam_release(const api::IpamReleaseRequest& req) {
  if (auto s = ipam_.release(req.owner()); !s) return fail(api::INTERNAL, s.error().message);
  api::Response r;
  r.mutable_empty();
  return r;
}

api::Response ApiHandlers::endpoint_add(const api::EndpointAddRequest& req) {
  auto ep = endpoints_.add(req.endpoint());
  if (!ep) return fail(code_of(ep.error(), api::INTERNAL), ep.error().message);
  // The pod's policy is in place before CNI ADD returns, so before its
  // container runs: a failure leaves the endpoint failing closed, and says so.
  if (auto s = policies_.regenerate(); !s) log::error("policy", s.error().message);
  api::Response r;
  *r.mutable_endpoint() = *store_.get(ep->container_id(), ep->ifname());
  return r;
}

api::Response ApiHandlers::endpoint_del(const api::EndpointDelRequest& req) {
  if (req.container_id().empty() || req.ifname().empty())
    return fail(api::INVALID_ARGUMENT, "endpoint delete needs container_id and ifname");
  if (auto s = endpoints_.remove(req.container_id(), req.ifname()); !s) return fail(api::INTERNAL, s.error().message);
  (void)policies_.regenerate();
  api::Response r;
  r.mutable_empty();
  return r;
}

api::Response ApiHandlers::endpoint_get(const api::EndpointGetRequest& req) const {
  std::optional<api::Endpoint> ep =
      req.id() != 0 ? store_.get_by_id(req.id()) : store_.get(req.container_id(), req.ifname());
  if (!ep) {
    std::string which = req.id() != 0 ? "id " + std::to_string(req.id()) : req.container_id() + "/" + req.ifname();
    return fail(api::NOT_FOUND, "no endpoint " + which);
  }
  api::Response r;
  *r.mutable_endpoint() = *ep;
  fill_policy(*r.mutable_endpoint());
  return r;
}

namespace {
std::string proto_name(uint8_t p) {
  switch (p) {
    case 0: return "any";
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 132: return "sctp";
  }
  return std::to_string(p);
}
std::string ref_text(const std::optional<PolicyRef>& r) {
  if (!r) return "?";
  return r->kind + " " + (r->ns.empty() ? "" : r->ns + "/") + r->name;
}
std::string rule_ref_text(const std::optional<PolicyRef>& r) {
  return ref_text(r) + (r && !r->rule.empty() ? ": " + r->rule : "");
}
std::string entry_text(const policy::Entry& e, const PolicyManager& pm) {
  std::string ports = e.lo == 0 && e.hi == 65535 ? "any port" : e.lo == e.hi ? std::to_string(e.lo) : std::to_string(e.lo) + "-" + std::to_string(e.hi);
  std::string who = e.identity == MYELIN_IDENTITY_ANY ? "any identity"
                    : e.identity & MYELIN_IDENTITY_IPBLOCK
                        ? "addresses of identity " + std::to_string(e.identity & ~MYELIN_IDENTITY_IPBLOCK)
                        : "identity " + std::to_string(e.identity);
  return std::string(e.dir == MYELIN_DIR_INGRESS ? "ingress " : "egress ") + (e.deny ? "deny " : "allow ") +
         proto_name(e.proto) + "/" + ports + (e.dir == MYELIN_DIR_INGRESS ? " from " : " to ") + who + " (" +
         (e.policy ? rule_ref_text(pm.policy(e.policy)) : "allow-localhost: the node reaches its pods") + ")" +
         (e.audit ? " [audit]" : "");
}
}  // namespace

void ApiHandlers::fill_policy(api::Endpoint& ep) const {
  auto p = policies_.endpoint_policy(ep.id());
  if (!p) return;
  auto* out = ep.mutable_policy();
  out->set_ingress_enforced(p->ingress_enforced);
  out->set_egress_enforced(p->egress_enforced);
  out->set_audit(p->audit);
  for (uint32_t id : p->selected_by) out->add_selected_by(ref_text(policies_.policy(id)));
  for (const auto& e : p->entries) out->add_rules(entry_text(e, policies_));
}

api::Response ApiHandlers::policy_list(const api::PolicyListRequest& req) const {
  api::Response r;
  auto* list = r.mutable_policies();
  std::map<uint32_t, std::vector<uint32_t>> selected;
  for (const auto& ep : store_.list())
    if (auto p = policies_.endpoint_policy(ep.id()))
      for (uint32_t id : p->selected_by) selected[id].push_back(ep.id());
  for (const auto& [id, p] : policies_.policies()) {
    if (!req.namespace_().empty() && p.ns != req.namespace_()) continue;
    if (!req.name().empty() && p.name != req.name()) continue;
    auto* info = list->add_policies();
    info->set_kind(p.kind);
    info->set_namespace_(p.ns);
    info->set_name(p.name);
    info->set_id(id);
    info->set_source(p.source);
    info->set_audit(p.audit);
    info->set_ingress(p.ingress_type);
    info->set_egress(p.egress_type);
    info->set_ingress_rules(static_cast<uint32_t>(p.ingress.size()));
    info->set_egress_rules(static_cast<uint32_t>(p.egress.size()));
    for (uint32_t ep : selected[id]) info->add_endpoints(ep);
    info->set_state("enabled");
  }
  // Refused sources, as policies in state error (the document at fault; its
  // namespace and name unknown when the YAML does not parse, so always listed).
  for (const auto& src : policies_.sources()) {
    if (src.ok) continue;
    const auto& r = src.refusal;
    list->add_errors(src.error);
    if (!req.namespace_().empty() && !r.ns.empty() && r.ns != req.namespace_()) continue;
    if (!req.name().empty() && r.name != req.name()) continue;
    auto* info = list->add_policies();
    info->set_kind(r.kind);
    info->set_namespace_(r.ns);
    info->set_name(r.name);
    info->set_source(r.source + (r.line ? ":" + std::to_string(r.line) : ""));
    info->set_state("error");
    to_proto(r, info->mutable_refusal());
  }
  if (!req.name().empty() && list->policies_size() == 0)
    return fail(api::NOT_FOUND, "no policy " + (req.namespace_().empty() ? "" : req.namespace_() + "/") + req.name());
  return r;
}

api::Response ApiHandlers::identity_list() const {
  api::Response r;
  for (const auto& [id, name] : abi::kReservedIdentities) {
    auto* i = r.mutable_identities()->add_identities();
    i->set_id(id);
    i->set_kind("reserved");
    i->add_labels(std::string("reserved:") + name);
  }
  for (const auto& [id, labels] : policies_.identities()) {
    auto* i = r.mutable_identities()->add_identities();
    i->set_id(id);
    bool cidr = std::any_of(labels.begin(), labels.end(), [](const std::string& l) { return l.rfind("cidr:", 0) == 0; });
    i->set_kind(cidr ? "cidr" : "pod");
    for (const auto& l : labels) i->add_labels(l);
  }
  return r;
}

api::Response ApiHandlers::policy_trace(const api::PolicyTraceRequest& req) const {
  auto find = [&](const std::string& who) -> std::optional<api::Endpoint> {
    auto slash = who.find('/');
    std::string ns = slash == std::string::npos ? "default" : who.substr(0, slash);
    std::string pod = slash == std::string::npos ? who : who.substr(slash + 1);
    for (const auto& ep : store_.list())
      if ((ep.pod_namespace().empty() ? "default" : ep.pod_namespace()) == ns && ep.pod_name() == pod) return ep;
    return std::nullopt;
  };
  auto from = find(req.from()), to = find(req.to());
  if (!from) return fail(api::NOT_FOUND, "no endpoint " + req.from() + " on this node");
  if (!to) return fail(api::NOT_FOUND, "no endpoint " + req.to() + " on this node");
  static const std::map<std::string, uint8_t> protos = {{"tcp", 6}, {"udp", 17}, {"sctp", 132}, {"icmp", 1}};
  auto proto = protos.find(req.protocol().empty() ? "tcp" : req.protocol());
  if (proto == protos.end()) return fail(api::INVALID_ARGUMENT, "protocol must be tcp, udp, sctp or icmp");
  if (req.port() > 65535) return fail(api::INVALID_ARGUMENT, "port must be 0-65535");
  auto explain = [&](const api::Endpoint& ep, uint8_t dir, const api::Endpoint& peer) {
    auto p = policies_.endpoint_policy(ep.id());
    policy::EndpointPolicy none;
    auto addr = net::parse_ipv4(peer.ip());
    const uint32_t by_address = addr ? policies_.ipblock_identity(addr->network_order()) : 0;
    auto d = policy::evaluate(p ? *p : none, dir, peer.identity(), proto->second, static_cast<uint16_t>(req.port()),
                              by_address);
    std::string who = (dir == MYELIN_DIR_INGRESS ? "ingress of " : "egress of ") + ep.pod_namespace() + "/" + ep.pod_name();
    switch (d.kind) {
      case policy::Decision::Kind::allowed_by_rule: return std::pair{true, who + ": allowed by " + entry_text(*d.entry, policies_)};
      case policy::Decision::Kind::allowed_not_enforced: return std::pair{true, who + ": allowed (no policy selects it in this direction)"};
      case policy::Decision::Kind::denied_by_rule: return std::pair{false, who + ": denied by " + entry_text(*d.entry, policies_)};
      case policy::Decision::Kind::denied_by_default: {
        std::string sel;
        for (uint32_t id : p->selected_by) sel += (sel.empty() ? "" : ", ") + ref_text(policies_.policy(id));
        return std::pair{false, who + ": denied by default: selected by " + sel + " and no rule allows it"};
      }
    }
    return std::pair{false, who + ": ?"};
  };
  auto [eg_ok, eg] = explain(*from, MYELIN_DIR_EGRESS, *to);
  auto [in_ok, in] = explain(*to, MYELIN_DIR_INGRESS, *from);
  api::Response r;
  auto* t = r.mutable_policy_trace();
  bool audit = false;
  if (auto p = policies_.endpoint_policy(eg_ok ? to->id() : from->id())) audit = p->audit;
  t->set_verdict(eg_ok && in_ok ? "ALLOWED" : audit ? "AUDIT" : "DENIED");
  t->set_egress(eg);
  t->set_ingress(in);
  return r;
}

api::Response ApiHandlers::endpoint_list() const {
  api::Response r;
  for (auto& ep : store_.list()) *r.mutable_endpoints()->add_endpoints() = ep;
  return r;
}

api::Response ApiHandlers::gc(const api::GcRequest& req) {
  std::vector<api::Attachment> valid(req.valid().begin(), req.valid().end());
  auto removed = endpoints_.gc(valid);
  if (!removed) return fail(api::INTERNAL, removed.error().message);
  (void)policies_.regenerate();
  api::Response r;
  for (auto& a : *removed) *r.mutable_gc()->add_removed() = a;
  return r;
}

void ApiHandlers::observe(const api::ObserveRequest& req, const Reply& reply, const std::atomic<bool>& cancelled) {
  auto filters = flows::FilterSet::compile(req.whitelist(), req.blacklist());
  if (!filters) {
    reply(fail(api::INVALID_ARGUMENT, filters.error().message));
    return;
  }
  flows::FlowStore::Cursor cursor;
  auto snapshot = flows_.query(req, info_.node_name, &cursor);
  if (!snapshot) {
    reply(fail(api::INVALID_ARGUMENT, snapshot.error().message));
    return;
  }
  for (auto& f : *snapshot) {
    api::Response r;
    *r.mutable_flow() = std::move(f);
    if (!reply(r)) return;
  }
  if (!req.follow()) return;
  while (!cancelled) {
    auto batch = flows_.wait_next(cursor, *filters, std::chrono::milliseconds(250), info_.node_name);
    for (auto& f : batch) {
      api::Response r;
      *r.mutable_flow() = std::move(f);
      if (!reply(r)) return;
    }
  }
}

void ApiHandlers::events(const api::EventsRequest& req, const Reply& reply, const std::atomic<bool>& cancelled) {
  if (!runtime_) {
    reply(fail(api::NOT_READY, "runtime events are off on this agent: " +
                                     (runtime_error_.empty() ? std::string("started with --runtime-events=false") : runtime_error_)));
    return;
  }
  runtime::EventFilter f{{req.types().begin(), req.types().end()}, req.policy(), req.pod(), req.namespace_(), req.binary()};
  auto send = [&](const runtime::Event& e) {
    api::Response r;
    auto* out = r.mutable_runtime_event();
    out->set_json(runtime::to_json(e, runtime_->node_name(), runtime_->mono_to_wall_ns()).dump());
    out->set_compact(runtime::to_compact(e));
    return reply(r);
  };
  uint64_t next = 0;
  for (const auto& e : runtime_->store().snapshot(f, req.last(), &next))
    if (!send(e)) return;
  if (!req.follow()) return;
  while (!cancelled)
    for (const auto& e : runtime_->store().wait_next(f, &next, std::chrono::milliseconds(250)))
      if (!send(e)) return;
}

api::Response ApiHandlers::tracing_policy_list() const {
  if (!tracing_) return fail(api::NOT_READY, "TracingPolicies are off on this agent (runtime events disabled or tracefs unavailable)");
  api::Response r;
  auto* out = r.mutable_tracing_policies();
  const auto rs = runtime_ ? runtime_->stats() : runtime::RuntimeMonitor::Stats{};
  for (const auto& p : tracing_->list()) {
    auto* i = out->add_policies();
    i->set_kind(p.kind);
    i->set_namespace_(p.ns);
    i->set_name(p.name);
    i->set_source(p.source);
    i->set_state(p.enabled ? "enabled" : "error");
    i->set_error(p.error);
    i->set_mode(p.mode);
    i->set_hooks(static_cast<uint32_t>(p.hooks));
    for (const auto& w : p.warnings) i->add_warnings(w);
    if (p.refusal) to_proto(*p.refusal, i->mutable_refusal());
    if (p.refusal && p.refusal->cause == policy::Refusal::Cause::decode) continue;  // a refused file posts nothing
    for (const auto& [k, n] : rs.events)
      if (k.second == p.name && k.first != "process_exec" && k.first != "process_exit") i->set_events(i->events() + n);
    for (const auto& [k, n] : rs.actions)
      if (k.second == p.name) (*i->mutable_actions())[k.first] = n;
  }
  return r;
}

api::Response ApiHandlers::gpu_list() const {
  if (!gpu_) return fail(api::NOT_READY, "GPU probes are off: no CUDA library found or given (myelind --gpu-libs PATH,...)");
  api::Response r;
  auto* out = r.mutable_gpu();
  for (const auto& a : gpu_->attached()) out->add_attached(a);
  for (const auto& g : gpu_->processes()) {
    auto* p = out->add_processes();
    p->set_pid(g.pid);
    p->set_binary(g.binary);
    if (g.pod) {
      p->set_pod_namespace(g.pod->ns);
      p->set_pod_name(g.pod->name);
    }
    for (uint32_t fn = 0; fn < MYELIN_GPU_FN_MAX; ++fn)
      if (g.stats.calls[fn]) (*p->mutable_calls())[datapath::gpu_function_name(fn)] = g.stats.calls[fn];
    p->set_bytes_allocated(g.stats.bytes_allocated);
    p->set_bytes_copied(g.stats.bytes_copied);
    p->set_kernel_launches(g.stats.kernel_launches);
  }
  return r;
}

api::Response ApiHandlers::storage_list() const {
  if (!storage_) return fail(api::NOT_READY, "block I/O probes are off on this agent (--storage-events=false, or they did not load: see its log)");
  api::Response r;
  auto* out = r.mutable_storage();
  for (const auto& e : storage_->entries()) {
    auto* x = out->add_entries();
    x->set_device(e.device);
    x->set_pid(e.pid);
    x->set_binary(e.binary);
    if (e.pod) {
      x->set_pod_namespace(e.pod->ns);
      x->set_pod_name(e.pod->name);
    }
    x->set_ios(e.stats.ios);
    x->set_bytes(e.stats.bytes);
    x->set_reads(e.stats.reads);
    x->set_writes(e.stats.writes);
    x->set_latency_avg_us(e.stats.ios ? e.stats.latency_sum_ns / e.stats.ios / 1000 : 0);
    x->set_latency_p50_us(runtime::histogram_quantile_us(e.stats, 0.5));
    x->set_latency_p99_us(runtime::histogram_quantile_us(e.stats, 0.99));
  }
  return r;
}

}  // namespace myelin::agent
