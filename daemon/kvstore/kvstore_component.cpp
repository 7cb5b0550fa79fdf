// SPDX-License-Identifier: Apache-2.0
#include "myelin/kvstore/kvstore_component.hpp"

#include <map>

#include "component/status_builder.hpp"
#include "metrics/metric_sink.hpp"

namespace myelin::kvstore {

std::vector<cluster::RemoteEndpoint> published_endpoints(const endpoints::EndpointStore& store, const objects::ObjectStore& objects,
                                                         const std::string& node) {
  std::map<std::pair<std::string, std::string>, std::vector<cluster::NamedPort>> ports;
  objects.each<policy::Pod>([&](const policy::Pod& p) {
    auto& v = ports[{p.ns, p.name}];
    if (!v.empty()) return;
    for (const auto& np : p.ports)
      if (!np.name.empty()) v.push_back({np.name, np.port, np.proto});
  });
  std::vector<cluster::RemoteEndpoint> out;
  for (const auto& ep : store.list()) {
    auto ip = net::parse_ipv4(ep.ip());
    if (!ip || ep.identity() == 0) continue;
    cluster::RemoteEndpoint e;
    e.ip = *ip;
    e.identity = ep.identity();
    e.node = node;
    e.ns = ep.pod_namespace();
    e.pod = ep.pod_name();
    if (auto it = ports.find({e.ns, e.pod}); it != ports.end()) e.named_ports = it->second;
    out.push_back(std::move(e));
  }
  return out;
}

Result<EtcdOptions> etcd_options(const Flags& f) {
  EtcdOptions o;
  auto eps = parse_endpoints(f.get("kvstore-endpoints"));
  if (!eps) return Error{"--kvstore-endpoints: " + eps.error().message};
  o.endpoints = std::move(*eps);
  o.ca_file = f.get("kvstore-cacert");
  o.cert_file = f.get("kvstore-cert");
  o.key_file = f.get("kvstore-key");
  return o;
}

ClusterSyncOptions sync_options(const Flags& f, const std::string& node, net::Ipv4 node_ip, const net::Cidr4& pod_cidr) {
  ClusterSyncOptions o;
  o.cluster = f.get("cluster-name");
  o.node.name = node;
  o.node.ip = node_ip;
  o.node.pod_cidrs = {pod_cidr};
  o.lease_ttl = std::chrono::seconds(*f.get_int("kvstore-lease-ttl"));  // validated
  return o;
}

KvstoreComponent::KvstoreComponent(Etcd& etcd, cluster::ClusterState& state, ClusterSyncOptions o)
    : etcd_(&etcd), state_(state), options_(std::move(o)) {}

KvstoreComponent::KvstoreComponent(EtcdOptions etcd, cluster::ClusterState& state, ClusterSyncOptions o)
    : etcd_options_(std::move(etcd)), state_(state), options_(std::move(o)) {}

KvstoreComponent::~KvstoreComponent() { stop(); }

Status KvstoreComponent::start() {
  if (!etcd_) {
    auto c = Etcd::connect(etcd_options_);
    if (!c) return Error{"etcd: " + c.error().message};
    own_etcd_ = std::move(*c);
    etcd_ = own_etcd_.get();
  }
  sync_ = std::make_unique<ClusterSync>(*etcd_, state_, options_);
  sync_->start();
  return {};
}

void KvstoreComponent::stop() {
  if (objects_ && subscription_) objects_->unsubscribe(subscription_);
  subscription_ = 0;
  if (sync_) sync_->stop();
}

void KvstoreComponent::endpoints_changed() {
  if (sync_) sync_->endpoints_changed();
}

void KvstoreComponent::lease_changed() {
  if (sync_) sync_->lease_changed();
}

void KvstoreComponent::watch_pods(objects::ObjectStore& objects) {
  objects_ = &objects;
  objects::ObjectStore::Subscriber s;
  s.kinds = {objects::Kind::pod};
  s.on_event = [this](const objects::Event& ev) {
    // Pods of other nodes (the API's cluster-wide list) are not ours to publish.
    const auto* pod = std::get_if<policy::Pod>(&ev.object);
    if (pod && !pod->node_name.empty() && pod->node_name != options_.node.name) return;
    endpoints_changed();
  };
  subscription_ = objects.subscribe(std::move(s));
}

SyncStats KvstoreComponent::stats() const { return sync_ ? sync_->stats() : SyncStats{}; }

void KvstoreComponent::status(component::StatusBuilder& b) const {
  const SyncStats s = stats();
  auto* k = b.out().mutable_kvstore();
  k->set_backend("etcd");
  k->set_endpoint(s.endpoint);
  k->set_connected(s.reachable && s.nodes_watch && s.endpoints_watch);
  const std::string why = degraded_reason(s);
  k->set_state(why.empty() ? "ok" : "degraded");
  k->set_reason(why);
  k->set_lease_id(s.lease);
  k->set_lease_alive(s.session);
  k->set_lease_ttl_seconds(static_cast<uint32_t>(options_.lease_ttl.count()));
  k->set_leases(s.leases);
  k->set_synced(s.synced);
  k->set_published(s.published);
  k->set_node_records(static_cast<uint32_t>(s.node_records));
  k->set_endpoint_records(static_cast<uint32_t>(s.endpoint_records));
  k->set_remote_nodes(static_cast<uint32_t>(s.remote_nodes));
  k->set_remote_endpoints(static_cast<uint32_t>(s.remote_endpoints));
  k->set_errors(s.write_errors + s.session_errors + s.decode_errors);
  k->set_last_error(s.last_error);
  for (const auto& r : s.refused) k->add_refused(r);
}

void KvstoreComponent::collect(metrics::MetricSink& sink) const {
  const SyncStats s = stats();
  sink.gauge("myelin_kvstore_connected", "1 when etcd answers and both watches (nodes, endpoints) are connected")
      .add({}, s.reachable && s.nodes_watch && s.endpoints_watch ? 1 : 0);
  sink.gauge("myelin_kvstore_degraded", "1 when the cluster view may be stale (status says why)").add({}, degraded_reason(s).empty() ? 0 : 1);
  sink.gauge("myelin_kvstore_lease_alive", "1 when this node's lease is held and its last keep-alive succeeded").add({}, s.session ? 1 : 0);
  sink.counter("myelin_kvstore_leases_total", "Leases this node's records were written under (a re-grant after a loss adds one)")
      .add({}, static_cast<double>(s.leases));
  sink.gauge("myelin_kvstore_records_published", "This node's records in etcd under its current lease, by kind")
      .add({{"kind", "node"}}, static_cast<double>(s.node_records))
      .add({{"kind", "endpoint"}}, static_cast<double>(s.endpoint_records));
  sink.gauge("myelin_kvstore_remote", "Other nodes and their endpoints known from etcd")
      .add({{"kind", "node"}}, static_cast<double>(s.remote_nodes))
      .add({{"kind", "endpoint"}}, static_cast<double>(s.remote_endpoints));
  sink.counter("myelin_kvstore_writes_total", "Writes of this node's records to etcd, by operation")
      .add({{"op", "put"}}, static_cast<double>(s.puts))
      .add({{"op", "delete"}}, static_cast<double>(s.deletes));
  sink.counter("myelin_kvstore_errors_total", "Failures talking to etcd or reading its records, by kind")
      .add({{"kind", "write"}}, static_cast<double>(s.write_errors))
      .add({{"kind", "lease"}}, static_cast<double>(s.session_errors))
      .add({{"kind", "decode"}}, static_cast<double>(s.decode_errors));
  sink.gauge("myelin_kvstore_records_refused", "Records in etcd that do not decode (kept out of the cluster view)")
      .add({}, static_cast<double>(s.refused.size()));
}

}  // namespace myelin::kvstore
