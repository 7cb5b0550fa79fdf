// SPDX-License-Identifier: Apache-2.0
// KvstoreComponent: ClusterSync (cluster_sync.hpp) to the rest of the agent:
// its part of `myelin status` (connected, lease, records published, remote
// nodes and endpoints, degraded and why) and its metrics. The store
// unreachable is never a start-up error: the agent runs degraded and
// converges when it answers (a bad URL or unreadable TLS file is one).
//
// main wires it as
//   auto so = kvstore::sync_options(flags, node, node_ip, pod_cidr);
//   so.local_endpoints = [&] { return kvstore::published_endpoints(store, objects, node); };
//   auto& kv = components.add<kvstore::KvstoreComponent>(*kvstore::etcd_options(flags), cluster_state, so);
//   kv.watch_pods(objects);
//   endpoints.set_on_change([..., &kv] { ...; kv.endpoints_changed(); });
// or, sharing the client and the session with EtcdIdentities (one lease
// for all of this node's keys): so.session = session.get(), the
// KvstoreComponent(etcd, ...) constructor, and the session's on_new_lease
// calling kv.lease_changed() besides identities->write_references(lease)
// (without that call the sync still finds the new lease within a second).
#pragma once

#include <memory>

#include "component/component.hpp"
#include "myelin/cluster/cluster_state.hpp"
#include "myelin/endpoints/endpoint_store.hpp"
#include "myelin/kvstore/cluster_sync.hpp"
#include "myelin/kvstore/etcd.hpp"
#include "myelin/flags.hpp"
#include "myelin/objects/object_store.hpp"

namespace myelin::kvstore {

// This node's endpoints as published: the endpoint store's records with an
// address and an identity, with their pod's named ports from the object
// store (the first copy of the Pod that has them).
std::vector<cluster::RemoteEndpoint> published_endpoints(const endpoints::EndpointStore& store, const objects::ObjectStore& objects,
                                                         const std::string& node);

// The agent's flags (validated: config/agent_flags.cpp) as the client's and
// the sync's options: --kvstore-endpoints, --kvstore-cacert/-cert/-key,
// --cluster-name, --kvstore-lease-ttl; this node's record from its name,
// underlay address and pod CIDR.
Result<EtcdOptions> etcd_options(const Flags& f);
ClusterSyncOptions sync_options(const Flags& f, const std::string& node, net::Ipv4 node_ip, const net::Cidr4& pod_cidr);

class KvstoreComponent : public component::Component {
 public:
  // Over a client the agent opened (shared with EtcdIdentities).
  KvstoreComponent(Etcd& etcd, cluster::ClusterState& state, ClusterSyncOptions o);
  // Opens its own client at start(): an error there (a bad endpoint or TLS file) stops the agent.
  KvstoreComponent(EtcdOptions etcd, cluster::ClusterState& state, ClusterSyncOptions o);
  ~KvstoreComponent() override;
  std::string name() const override { return "kvstore"; }
  Status start() override;
  void stop() override;
  void status(component::StatusBuilder& b) const override;
  void collect(metrics::MetricSink& sink) const override;

  // Any thread: an endpoint was added, removed or changed.
  void endpoints_changed();
  // Any thread: the shared session (ClusterSyncOptions::session) has a new lease.
  void lease_changed();
  // Pod changes (named ports) re-publish too.
  void watch_pods(objects::ObjectStore& objects);
  SyncStats stats() const;

 private:
  Etcd* etcd_ = nullptr;
  std::unique_ptr<Etcd> own_etcd_;
  EtcdOptions etcd_options_;
  cluster::ClusterState& state_;
  ClusterSyncOptions options_;
  std::unique_ptr<ClusterSync> sync_;
  objects::ObjectStore* objects_ = nullptr;
  objects::ObjectStore::SubscriptionId subscription_ = 0;
};

}  // namespace myelin::kvstore
