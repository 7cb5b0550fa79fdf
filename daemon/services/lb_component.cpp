// SPDX-License-Identifier: Apache-2.0
#include "myelin/services/lb_component.hpp"

#include <arpa/inet.h>

#include "metrics/metric_sink.hpp"
#include "myelin/log.hpp"
#include "myelin/net.hpp"
#include "server/router.hpp"

namespace myelin::services {
namespace {

std::string proto_name(uint8_t p) { return p == 6 ? "TCP" : p == 17 ? "UDP" : p == 132 ? "SCTP" : std::to_string(p); }

std::string addr_of(const myelin_addr& a) { return net::Ipv4{ntohl(a.w[0])}.str(); }

std::vector<std::string> flag_names(uint32_t f) {
  static const std::pair<uint32_t, const char*> names[] = {
      {MYELIN_LB_F_CLUSTER_IP, "ClusterIP"}, {MYELIN_LB_F_NODE_PORT, "NodePort"},       {MYELIN_LB_F_EXTERNAL_IP, "ExternalIP"},
      {MYELIN_LB_F_LOAD_BALANCER, "LoadBalancer"}, {MYELIN_LB_F_AFFINITY, "affinity"}, {MYELIN_LB_F_TWO_SCOPES, "two-scopes"},
      {MYELIN_LB_F_MAGLEV, "maglev"},         {MYELIN_LB_F_LOCAL_ONLY, "local-only"},
  };
  std::vector<std::string> out;
  for (const auto& [bit, name] : names)
    if (f & bit) out.push_back(name);
  return out;
}

}  // namespace

api::LbList lb_list(const LbDump& d, const FrontendIndex& index, const std::vector<FrontendError>& errors, const LbWriterOptions& opts,
                    bool synced) {
  api::LbList out;
  out.set_enabled(d.config.flags & MYELIN_LB_CFG_F_ENABLED);
  out.set_maglev_table_size(d.config.maglev_m);
  out.set_algorithm(opts.algorithm == LbAlgorithm::maglev ? "maglev" : "random");
  out.set_node_port_range(std::to_string(d.config.node_port_min) + "-" + std::to_string(d.config.node_port_max));
  out.set_synced(synced);
  // Slot 0 entries open a frontend; the slots that follow (sorted) are its.
  api::LbFrontend* cur = nullptr;
  myelin_lb_svc_key cur_key{};
  for (const auto& e : d.svc) {
    auto same = [&](const myelin_lb_svc_key& a, const myelin_lb_svc_key& b) {
      return a.addr.w[0] == b.addr.w[0] && a.dport == b.dport && a.proto == b.proto && a.scope == b.scope;
    };
    if (e.key.slot == 0) {
      cur = out.add_frontends();
      cur_key = e.key;
      cur->set_address(addr_of(e.key.addr));
      cur->set_port(ntohs(e.key.dport));
      cur->set_protocol(proto_name(e.key.proto));
      cur->set_scope(e.key.scope == MYELIN_LB_SCOPE_INTERNAL ? "internal" : "external");
      cur->set_rev_nat_index(e.val.rev_nat_index);
      for (auto& f : flag_names(e.val.flags)) cur->add_flags(f);
      cur->set_affinity_timeout(e.val.affinity_timeout);
      if (auto r = index.find(e.val.rev_nat_index); r != index.end()) {
        cur->set_kind(kind_name(r->second.kind));
        if (!r->second.name.empty()) cur->set_service(r->second.ns + "/" + r->second.name);
        else cur->set_restored(true);
      }
      if (auto m = d.maglev.find(e.val.rev_nat_index); m != d.maglev.end()) cur->set_maglev_table_size(m->second);
      // Slots 1..count, as listed (a missing one shows as id 0).
      for (uint16_t s = 1; s <= e.val.count; ++s) {
        auto* slot = cur->add_slots();
        slot->set_slot(s);
      }
      continue;
    }
    if (!cur || !same(e.key, cur_key) || e.key.slot > cur->slots_size()) continue;  // a slot past the count: invisible
    auto* slot = cur->mutable_slots(e.key.slot - 1);
    slot->set_backend_id(e.val.backend_id);
    if (auto b = d.backends.find(e.val.backend_id); b != d.backends.end())
      slot->set_backend(addr_of(b->second.addr) + ":" + std::to_string(ntohs(b->second.port)));
  }
  for (const auto& [id, b] : d.backends) {
    auto* o = out.add_backends();
    o->set_id(id);
    o->set_address(addr_of(b.addr));
    o->set_port(ntohs(b.port));
    o->set_protocol(proto_name(b.proto));
    o->set_state(b.flags & MYELIN_LB_BE_F_ACTIVE ? "active" : b.flags & MYELIN_LB_BE_F_TERMINATING ? "terminating" : "inactive");
    o->set_local(b.flags & MYELIN_LB_BE_F_LOCAL);
  }
  for (const auto& e : errors) {
    auto* o = out.add_errors();
    o->set_service(e.service);
    o->set_frontend(e.addr.str() + ":" + std::to_string(e.port) + "/" + proto_name(e.proto));
    o->set_message(e.message);
    o->set_kept_previous(e.kept_previous);
  }
  return out;
}

Status LbComponent::start() {
  log::info("lb", writer_.restore_report());
  return {};
}

void LbComponent::routes(server::Router& r) {
  r.add(api::Request::kLbList, [this](const api::Request&) {
    auto d = writer_.dump();
    if (!d) return server::error_response(api::INTERNAL, d.error().message);
    api::Response resp;
    *resp.mutable_lb() = lb_list(*d, *writer_.index(), writer_.errors(), writer_.options(), writer_.summary().synced);
    return resp;
  });
}

void LbComponent::collect(metrics::MetricSink& sink) const {
  const auto s = writer_.summary();
  auto fe = sink.gauge("myelin_lb_frontends", "Service frontends installed in the load-balancing maps, by kind (restored: kept from before a restart until every source has synced)");
  for (auto k : {FrontendKind::cluster_ip, FrontendKind::node_port, FrontendKind::external_ip, FrontendKind::load_balancer}) {
    auto it = s.frontends.find(k);
    fe.add({{"kind", kind_name(k)}}, it == s.frontends.end() ? 0 : static_cast<double>(it->second));
  }
  fe.add({{"kind", "restored"}}, static_cast<double>(s.restored_frontends));
  sink.gauge("myelin_lb_backends", "Backends in the load-balancing maps, by state")
      .add({{"state", "active"}}, static_cast<double>(s.backends_active))
      .add({{"state", "terminating"}}, static_cast<double>(s.backends_terminating));
  sink.gauge("myelin_lb_frontend_errors", "Frontends the last table could not install as it says (a full map, a conflict): "
                                          "their previous version, if any, stays")
      .add({}, static_cast<double>(s.frontend_errors));
  sink.counter("myelin_lb_map_errors_total", "Load-balancing map insertions that failed (the map was full), by map")
      .add({{"map_name", MYELIN_MAP_LB_SVC}}, static_cast<double>(s.counters.map_errors_svc))
      .add({{"map_name", MYELIN_MAP_LB_BACKEND}}, static_cast<double>(s.counters.map_errors_backend))
      .add({{"map_name", MYELIN_MAP_LB_REVNAT}}, static_cast<double>(s.counters.map_errors_revnat))
      .add({{"map_name", MYELIN_MAP_LB_MAGLEV}}, static_cast<double>(s.counters.map_errors_maglev));
  // Fill levels beside the datapath's own maps, in the same family.
  auto pressure = sink.gauge("myelin_bpf_map_pressure", "Fill level of BPF maps (entries / capacity; ring buffers: unread bytes / size)");
  auto entries = sink.gauge("myelin_lb_map_entries", "Entries the agent keeps in each load-balancing map");
  auto capacity = sink.gauge("myelin_lb_map_capacity", "Capacity of each load-balancing map");
  auto add = [&](const char* map, uint64_t n, uint64_t cap) {
    pressure.add({{"map_name", map}}, cap ? static_cast<double>(n) / static_cast<double>(cap) : 0);
    entries.add({{"map_name", map}}, static_cast<double>(n));
    capacity.add({{"map_name", map}}, static_cast<double>(cap));
  };
  add(MYELIN_MAP_LB_SVC, s.fill.svc_entries, s.fill.svc_capacity);
  add(MYELIN_MAP_LB_BACKEND, s.fill.backends, s.fill.backend_capacity);
  add(MYELIN_MAP_LB_REVNAT, s.fill.revnat, s.fill.revnat_capacity);
  add(MYELIN_MAP_LB_MAGLEV, s.fill.maglev_tables, s.fill.maglev_capacity);
  sink.counter("myelin_lb_backends_removed_total", "Backends deleted from the load-balancing maps (no frontend lists them any more)")
      .add({}, static_cast<double>(s.counters.backends_removed));
  sink.counter("myelin_lb_restored_pruned_total", "Entries restored from the pinned maps and pruned once every source had synced")
      .add({{"what", "frontend"}}, static_cast<double>(s.counters.pruned_frontends))
      .add({{"what", "backend"}}, static_cast<double>(s.counters.pruned_backends));
  sink.counter("myelin_lb_maglev_tables_written_total", "Maglev tables built and swapped in").add({}, static_cast<double>(s.counters.maglev_tables_written));
  sink.counter("myelin_lb_applies_total", "Service tables applied to the load-balancing maps").add({}, static_cast<double>(s.counters.applies));
  sink.gauge("myelin_lb_apply_seconds", "How long the last table took to apply").add({}, s.counters.last_apply_seconds);
}

}  // namespace myelin::services
