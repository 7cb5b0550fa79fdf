// SPDX-License-Identifier: Apache-2.0
#include "myelin/services/service_manager.hpp"

#include <map>

#include "myelin/log.hpp"

namespace myelin::services {

ServiceManager::ServiceManager(objects::ObjectStore& store, TableSink& sink, EndpointSource endpoints, Options o)
    : store_(store), sink_(sink), endpoints_(std::move(endpoints)), opts_(std::move(o)), snap_(std::make_shared<Snapshot>()) {
  objects::ObjectStore::Subscriber s;
  s.kinds = {objects::Kind::service, objects::Kind::endpoint_slice, objects::Kind::pod, objects::Kind::node};
  // Recomputed once per completed batch of a source, not per object: a
  // manifest of 10,000 Services is one computation.
  s.on_event = [this](const objects::Event&) {
    std::lock_guard lk(mu_);
    dirty_ = true;
  };
  s.on_changed = [this] {
    bool run;
    {
      std::lock_guard lk(mu_);
      run = started_ && dirty_;
    }
    if (run) recompute();
  };
  s.on_synced = [this] {
    bool run;
    {
      std::lock_guard lk(mu_);
      run = started_;
      dirty_ = true;  // the sink must hear all_synced even if nothing else changed
    }
    if (run) recompute();
  };
  sub_ = store_.subscribe(std::move(s));
}

ServiceManager::~ServiceManager() { store_.unsubscribe(sub_); }

void ServiceManager::start() {
  {
    std::lock_guard lk(mu_);
    started_ = dirty_ = true;
  }
  recompute();
}

void ServiceManager::endpoints_changed() {
  {
    std::lock_guard lk(mu_);
    if (!started_) return;
    dirty_ = true;
  }
  recompute();
}

void ServiceManager::set_node_addresses(std::vector<net::Ipv4> addrs) {
  {
    std::lock_guard lk(mu_);
    node_addresses_ = std::move(addrs);
    if (!started_) return;
    dirty_ = true;
  }
  recompute();
}

std::shared_ptr<const ServiceManager::Snapshot> ServiceManager::snapshot() const {
  std::lock_guard lk(snap_mu_);
  return snap_;
}

uint64_t ServiceManager::computations() const {
  std::lock_guard lk(snap_mu_);
  return computations_;
}

void ServiceManager::recompute() {
  std::lock_guard lk(mu_);
  if (!dirty_) return;  // another thread's computation already saw this change
  dirty_ = false;
  // Read once, in one pass per kind; all_synced first, so a table handed
  // with all_synced = true never lacks what the sources had listed.
  const bool synced = store_.all_synced();
  Inputs in;
  in.node_name = opts_.node_name;
  in.proxy_name = opts_.proxy_name;
  in.maglev = opts_.maglev;
  in.node_port_min = opts_.node_port_min;
  in.node_port_max = opts_.node_port_max;
  in.services = store_.list<objects::Service>();
  in.slices = store_.list<objects::EndpointSlice>();
  in.pods = store_.list<policy::Pod>();
  if (endpoints_) in.endpoints = endpoints_();
  if (node_addresses_) {
    in.node_addresses = *node_addresses_;
  } else {
    store_.each<objects::Node>([&](const objects::Node& n) {
      if (n.name != opts_.node_name) return;
      in.node_addresses.clear();  // given twice: the last in source order
      for (const auto* list : {&n.internal_ips, &n.external_ips})
        for (const auto& a : *list)
          if (auto ip = net::parse_ipv4(a)) in.node_addresses.push_back(*ip);
    });
  }
  auto next = std::make_shared<Snapshot>();
  next->table = translate(in);
  next->node_addresses = in.node_addresses;
  next->all_synced = synced;
  std::map<std::string, const objects::Service*> by_key;
  for (const auto& s : in.services) by_key[s.ns + "/" + s.name] = &s;
  for (const auto& [k, s] : by_key) next->services.push_back(*s);

  auto prev = snapshot();
  const bool same = applied_ && prev->table == next->table && prev->all_synced == synced;
  next->generation = prev->generation + (same ? 0 : 1);
  if (!same) {
    sink_.apply(next->table, synced);
    applied_ = true;
    log::debug("services", "table " + std::to_string(next->generation) + ": " + std::to_string(next->table.size()) + " services" +
                               (synced ? "" : " (sources not all synced)"));
  }
  std::lock_guard s(snap_mu_);
  ++computations_;
  snap_ = std::move(next);
}

}  // namespace myelin::services
