// SPDX-License-Identifier: Apache-2.0
#include "myelin/cluster/nodes_component.hpp"

#include <google/protobuf/util/time_util.h>

#include <chrono>

#include "component/status_builder.hpp"
#include "metrics/metric_sink.hpp"
#include "server/router.hpp"

namespace myelin::cluster {
namespace {

google::protobuf::Timestamp timestamp(std::chrono::system_clock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(ns);
}

std::string mode_of(const NodesComponent::Options& o) { return o.sources.empty() ? kSingleNode : "cluster"; }

}  // namespace

Status NodesComponent::start() {
  if (!nd_) return {};
  if (o_.tunnel_device) {
    const auto [ifindex, mtu] = o_.tunnel_device();
    nd_->set_tunnel_device(ifindex, mtu);
  }
  return nd_->start();
}

void NodesComponent::stop() {
  if (nd_) nd_->stop();
}

api::NodeList NodesComponent::node_list(const Snapshot& s, const Options& o, const std::vector<Node>& unrouted) {
  api::NodeList out;
  out.set_mode(mode_of(o));
  std::map<std::string, uint32_t> pods;
  for (const auto& [ip, ep] : s.endpoints) ++pods[ep.node];
  bool local_listed = false;
  for (const auto& [name, n] : s.nodes) {
    auto* row = out.add_nodes();
    row->set_name(name);
    if (n.ip.host) row->add_addresses(n.ip.str());
    for (const auto& c : n.pod_cidrs) row->add_pod_cidrs(c.str());
    row->set_source(source_name(n.source));
    row->set_health(n.problem.empty() ? "ok" : "problem");
    row->set_problem(n.problem);
    if (n.updated.time_since_epoch().count()) *row->mutable_last_update() = timestamp(n.updated);
    row->set_local(n.local);
    row->set_endpoints(n.local ? 0 : pods[name]);
    local_listed = local_listed || n.local;
  }
  if (!local_listed && !o.node_name.empty()) {
    // No source lists this node (a single node, or not published yet): it
    // is listed from its own flags.
    auto* row = out.add_nodes();
    row->set_name(o.node_name);
    if (o.node_ip.host) row->add_addresses(o.node_ip.str());
    if (o.pod_cidr) row->add_pod_cidrs(o.pod_cidr->str());
    row->set_source("local");
    row->set_health("ok");
    row->set_local(true);
  }
  for (const auto& n : unrouted) {
    if (n.name == o.node_name || s.nodes.count(n.name)) continue;
    auto* row = out.add_nodes();
    row->set_name(n.name);
    if (n.ip.host) row->add_addresses(n.ip.str());
    for (const auto& c : n.pod_cidrs) row->add_pod_cidrs(c.str());
    row->set_source(source_name(n.source));
    row->set_health("ignored");
    row->set_problem(o.unrouted_reason);
  }
  return out;
}

api::ClusterStatus NodesComponent::cluster_status(const Snapshot& s, const Options& o, const NodeDatapath::Stats* stats,
                                                  const std::vector<Node>& unrouted) {
  api::ClusterStatus c;
  c.set_mode(mode_of(o));
  c.set_routing_mode(routing_mode_name(o.mode));
  bool local = false;
  for (const auto& [name, n] : s.nodes) {
    local = local || n.local;
    if (!n.problem.empty()) c.add_problems(name + ": " + n.problem);
  }
  for (const auto& n : unrouted)
    if (n.name != o.node_name && !s.nodes.count(n.name)) c.add_problems(n.name + " (Node object): ignored: " + o.unrouted_reason);
  c.set_nodes(static_cast<uint32_t>(s.nodes.size() + (local ? 0 : 1)));
  c.set_remote_endpoints(static_cast<uint32_t>(s.endpoints.size()));
  for (Source src : o.sources) c.add_sources(source_name(src));
  c.set_synced(all_synced(s, o.sources));
  if (stats) {
    c.set_ipcache_entries(stats->ipcache_entries);
    c.set_routes(static_cast<uint32_t>(stats->routes));
    c.set_pruned(stats->pruned);
    c.set_error(stats->last_error);
    c.set_endpoints_without_node(static_cast<uint32_t>(stats->endpoints_without_node));
  }
  return c;
}

void NodesComponent::routes(server::Router& r) {
  r.add(api::Request::kNodeList, [this](const api::Request&) {
    api::Response resp;
    *resp.mutable_nodes() = node_list(*cluster_.snapshot(), o_, unrouted());
    return resp;
  });
}

void NodesComponent::status(component::StatusBuilder& b) const {
  const auto stats = nd_ ? std::optional<NodeDatapath::Stats>(nd_->stats()) : std::nullopt;
  *b.out().mutable_cluster() = cluster_status(*cluster_.snapshot(), o_, stats ? &*stats : nullptr, unrouted());
}

void NodesComponent::collect(metrics::MetricSink& sink) const {
  const auto s = cluster_.snapshot();
  uint32_t problems = 0;
  for (const auto& [name, n] : s->nodes) problems += n.problem.empty() ? 0 : 1;
  sink.gauge("myelin_cluster_nodes", "Nodes this node knows, by health")
      .add({{"health", "ok"}}, static_cast<double>(s->nodes.size() - problems))
      .add({{"health", "problem"}}, problems);
  sink.gauge("myelin_cluster_remote_endpoints", "Other nodes' pods this node knows").add({}, static_cast<double>(s->endpoints.size()));
  sink.gauge("myelin_cluster_synced", "1 when every node source has listed once (stale state pruned)").add({}, all_synced(*s, o_.sources) ? 1 : 0);
  if (!nd_) return;
  const auto st = nd_->stats();
  sink.gauge("myelin_node_datapath_ipcache_entries", "ipcache entries of the cluster (other nodes' prefixes, this node's pod CIDR)")
      .add({}, static_cast<double>(st.ipcache_entries));
  sink.gauge("myelin_node_datapath_routes", "Routes to other nodes' pod CIDRs (proto 77)").add({}, static_cast<double>(st.routes));
  sink.counter("myelin_node_datapath_reconciles_total", "Passes of the node datapath").add({}, static_cast<double>(st.reconciles));
  sink.counter("myelin_node_datapath_pruned_total", "Cluster entries and routes removed as stale").add({}, static_cast<double>(st.pruned));
  sink.counter("myelin_node_datapath_errors_total", "ipcache or route writes that failed").add({}, static_cast<double>(st.errors));
}

}  // namespace myelin::cluster
