// SPDX-License-Identifier: Apache-2.0
// ServiceManager: keeps the ServiceTable in step with the store and the
// node. It subscribes to the ObjectStore (Service, EndpointSlice, Pod, Node)
// and is told of endpoint changes; on each it recomputes the table
// (translate(), a pure function) and hands it to its TableSink when it
// changed, saying whether every source has synced (before that the sink
// keeps restored backends the partial view lacks). The last table, with the
// Services it came from, is a snapshot the API and metrics read.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "myelin/objects/object_store.hpp"
#include "myelin/services/translate.hpp"

namespace myelin::services {

class ServiceManager {
 public:
  struct Options {
    std::string node_name;
    std::string proxy_name;  // see Inputs::proxy_name
    bool maglev = false;
    uint16_t node_port_min = 1, node_port_max = 65535;  // --node-port-range
  };
  // This node's pod endpoints, read at each recomputation.
  using EndpointSource = std::function<std::vector<LocalEndpoint>()>;

  struct Snapshot {
    ServiceTable table;
    std::vector<objects::Service> services;  // as decoded, by "ns/name" order of the table
    std::vector<net::Ipv4> node_addresses;
    bool all_synced = false;
    uint64_t generation = 0;                 // bumps with each table handed to the sink
  };

  ServiceManager(objects::ObjectStore& store, TableSink& sink, EndpointSource endpoints, Options o);
  ~ServiceManager();
  ServiceManager(const ServiceManager&) = delete;
  ServiceManager& operator=(const ServiceManager&) = delete;

  // The first computation (the store's replayed objects); then the store
  // and endpoint changes drive it.
  void start();
  // An endpoint was added, removed or changed state (EndpointManager's on_change).
  void endpoints_changed();
  // The addresses NodePorts are served on and externalIPs are matched
  // against (the devices' addresses). Unset: this node's Node object's
  // InternalIP and ExternalIP addresses.
  void set_node_addresses(std::vector<net::Ipv4> addrs);

  std::shared_ptr<const Snapshot> snapshot() const;
  uint64_t computations() const;

 private:
  void recompute();

  objects::ObjectStore& store_;
  TableSink& sink_;
  EndpointSource endpoints_;
  Options opts_;
  std::mutex mu_;  // one computation and apply at a time, in order
  bool started_ = false, dirty_ = false, applied_ = false;
  std::optional<std::vector<net::Ipv4>> node_addresses_;
  uint64_t computations_ = 0;
  mutable std::mutex snap_mu_;
  std::shared_ptr<const Snapshot> snap_;
  objects::ObjectStore::SubscriptionId sub_ = 0;
};

}  // namespace myelin::services
