// SPDX-License-Identifier: Apache-2.0
#include "agent/components.hpp"

#include "agent/policy_component.hpp"
#include "component/status_builder.hpp"
#include "flow.pb.h"
#include "metrics/metric_sink.hpp"
#include "myelin/abi/net.hpp"
#include "myelin/log.hpp"
#include "server/router.hpp"

namespace myelin::agent {
namespace {

using server::error_response;

api::ErrorCode code_of(const Error& e, api::ErrorCode fallback) {
  return (e.code > 0 && e.code <= api::ALREADY_EXISTS) ? static_cast<api::ErrorCode>(e.code) : fallback;
}

std::string reason(uint8_t r) {
  const std::string& n = flow::DropReason_Name(static_cast<flow::DropReason>(r));
  return n.empty() ? "DROP_REASON_" + std::to_string(r) : n;
}

}  // namespace

// ---- agent ----

void AgentComponent::routes(server::Router& r) {
  router_ = &r;
  r.add(
      api::Request::kStatus,
      [this](const api::Request&) {
        api::Response resp;
        all_.status(*resp.mutable_status());
        return resp;
      },
      /*before_ready=*/true);
}

void AgentComponent::status(component::StatusBuilder& b) const {
  auto& s = b.out();
  s.set_node_name(info_.node_name);
  s.set_version(info_.version);
  s.set_ready(router_ && router_->ready());
  *s.mutable_started() = info_.started;
  s.set_pod_cidr(info_.pod_cidr.str());
  s.set_gateway(MYELIN_GATEWAY_IPV4);
  s.set_bpffs_root(info_.bpffs_root);
  s.set_adopted(info_.adopted);
  for (const auto& f : info_.features) {
    auto* p = s.add_features();
    p->set_name(f.name);
    p->set_available(f.available);
    p->set_detail(f.detail);
  }
}

void AgentComponent::collect(metrics::MetricSink& sink) const {
  sink.gauge("myelin_build_info", "Build information").add({{"version", info_.version}}, 1);
}

// ---- datapath ----

Status DatapathComponent::start() {
  if (auto s = pump_.start(); !s) return Error{"ring buffer: " + s.error().message};
  return {};
}

void DatapathComponent::status(component::StatusBuilder& b) const {
  auto& s = b.out();
  const auto stats = dp_.stats();
  s.set_events_lost_datapath(stats.events_lost);
  s.set_events_sent_datapath(stats.events_sent);
  s.set_events_processed(pump_.events());
  for (const auto& [key, val] : dp_.metrics()) {
    if (key.reason == MYELIN_DROP_NONE) {
      if (key.dir == MYELIN_DIR_INGRESS) s.set_forward_packets_ingress(s.forward_packets_ingress() + val.packets);
      else s.set_forward_packets_egress(s.forward_packets_egress() + val.packets);
      continue;
    }
    auto* d = s.add_drops();
    d->set_reason(flow::DropReason_Name(static_cast<flow::DropReason>(key.reason)));
    if (d->reason().empty()) d->set_reason("DROP_REASON_" + std::to_string(key.reason));
    d->set_direction(abi::direction_name(key.dir));
    d->set_packets(val.packets);
    d->set_bytes(val.bytes);
  }
  s.set_conntrack_entries(dp_.ct_count());
}

void DatapathComponent::collect(metrics::MetricSink& sink) const {
  const auto counters = dp_.metrics();
  auto fwd_count = sink.counter("myelin_forward_count_total", "Packets forwarded by the datapath");
  auto fwd_bytes = sink.counter("myelin_forward_bytes_total", "Bytes forwarded by the datapath");
  auto drop_count = sink.counter("myelin_drop_count_total", "Packets dropped by the datapath, by reason");
  auto drop_bytes = sink.counter("myelin_drop_bytes_total", "Bytes dropped by the datapath, by reason");
  std::map<std::string, std::pair<uint64_t, uint64_t>> fwd{{abi::direction_name(MYELIN_DIR_INGRESS), {0, 0}},
                                                           {abi::direction_name(MYELIN_DIR_EGRESS), {0, 0}}};
  for (const auto& [k, v] : counters) {
    if (k.reason == MYELIN_DROP_NONE) {
      auto& f = fwd[abi::direction_name(k.dir)];
      f.first += v.packets;
      f.second += v.bytes;
    } else {
      metrics::Labels l{{"direction", abi::direction_name(k.dir)}, {"reason", reason(k.reason)}};
      drop_count.add(l, static_cast<double>(v.packets));
      drop_bytes.add(l, static_cast<double>(v.bytes));
    }
  }
  for (const auto& [dir, v] : fwd) {
    fwd_count.add({{"direction", dir}}, static_cast<double>(v.first));
    fwd_bytes.add({{"direction", dir}}, static_cast<double>(v.second));
  }

  // 1 means full; what then happens is each map's documented full behaviour
  // (datapath/lib/maps.h). For the event ring: unread bytes / its size.
  auto pressure = sink.gauge("myelin_bpf_map_pressure", "Fill level of BPF maps (entries / capacity; ring buffers: unread bytes / size)");
  for (const auto& m : dp_.map_fill())
    pressure.add({{"map_name", m.name}}, m.capacity ? static_cast<double>(m.entries) / m.capacity : 0);

  sink.counter("myelin_lost_events_total", "Events lost before a reader saw them, by where")
      .add({{"source", "datapath_ringbuf"}}, static_cast<double>(dp_.stats().events_lost));
}

// ---- endpoints ----

void EndpointsComponent::routes(server::Router& r) {
  r.add(api::Request::kEndpointAdd, [this](const api::Request& q) { return add(q.endpoint_add()); });
  r.add(api::Request::kEndpointDel, [this](const api::Request& q) { return del(q.endpoint_del()); });
  r.add(api::Request::kEndpointGet, [this](const api::Request& q) { return get(q.endpoint_get()); });
  r.add(api::Request::kEndpointList, [this](const api::Request&) { return list(); });
  r.add(api::Request::kGc, [this](const api::Request& q) { return gc(q.gc()); });
}

void EndpointsComponent::status(component::StatusBuilder& b) const {
  b.out().set_endpoints(static_cast<uint32_t>(store_.list().size()));
}

void EndpointsComponent::collect(metrics::MetricSink& sink) const {
  auto eps = sink.gauge("myelin_endpoint", "Endpoints on this node, by state");
  std::map<std::string, uint64_t> by_state{{"ready", 0}, {"not-ready", 0}};
  for (const auto& ep : store_.list()) ++by_state[ep.state().empty() ? "not-ready" : ep.state()];
  for (const auto& [state, n] : by_state) eps.add({{"state", state}}, static_cast<double>(n));
}

api::Response EndpointsComponent::add(const api::EndpointAddRequest& req) {
  auto ep = endpoints_.add(req.endpoint());
  if (!ep) return error_response(code_of(ep.error(), api::INTERNAL), ep.error().message);
  // The pod's policy is in place before CNI ADD returns, so before its
  // container runs: a failure leaves the endpoint failing closed, and says so.
  if (auto s = policies_.regenerate(); !s) log::error("policy", s.error().message);
  api::Response r;
  *r.mutable_endpoint() = *store_.get(ep->container_id(), ep->ifname());
  return r;
}

api::Response EndpointsComponent::del(const api::EndpointDelRequest& req) {
  if (req.container_id().empty() || req.ifname().empty())
    return error_response(api::INVALID_ARGUMENT, "endpoint delete needs container_id and ifname");
  if (auto s = endpoints_.remove(req.container_id(), req.ifname()); !s) return error_response(api::INTERNAL, s.error().message);
  (void)policies_.regenerate();
  api::Response r;
  r.mutable_empty();
  return r;
}

api::Response EndpointsComponent::get(const api::EndpointGetRequest& req) const {
  std::optional<api::Endpoint> ep =
      req.id() != 0 ? store_.get_by_id(req.id()) : store_.get(req.container_id(), req.ifname());
  if (!ep) {
    std::string which = req.id() != 0 ? "id " + std::to_string(req.id()) : req.container_id() + "/" + req.ifname();
    return error_response(api::NOT_FOUND, "no endpoint " + which);
  }
  api::Response r;
  *r.mutable_endpoint() = *ep;
  fill_policy(policies_, *r.mutable_endpoint());
  return r;
}

api::Response EndpointsComponent::list() const {
  api::Response r;
  for (auto& ep : store_.list()) *r.mutable_endpoints()->add_endpoints() = ep;
  return r;
}

api::Response EndpointsComponent::gc(const api::GcRequest& req) {
  std::vector<api::Attachment> valid(req.valid().begin(), req.valid().end());
  auto removed = endpoints_.gc(valid);
  if (!removed) return error_response(api::INTERNAL, removed.error().message);
  (void)policies_.regenerate();
  api::Response r;
  for (auto& a : *removed) *r.mutable_gc()->add_removed() = a;
  return r;
}

// ---- conntrack GC ----

void ConntrackGcComponent::status(component::StatusBuilder& b) const { b.out().set_conntrack_gc_runs(gc_.runs()); }

void ConntrackGcComponent::collect(metrics::MetricSink& sink) const {
  sink.counter("myelin_conntrack_gc_runs_total", "Conntrack garbage collection runs").add({}, static_cast<double>(gc_.runs()));
  auto entries = sink.gauge("myelin_conntrack_gc_entries", "Conntrack entries alive after the last GC, by state");
  const auto last = gc_.last();
  for (size_t st = 1; st < last.alive_by_state.size(); ++st)
    entries.add({{"state", abi::ct_state_name(st)}}, static_cast<double>(last.alive_by_state[st]));
}

}  // namespace myelin::agent
