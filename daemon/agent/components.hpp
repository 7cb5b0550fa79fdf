// SPDX-License-Identifier: Apache-2.0
// The agent's core parts as components: what each answers on the API,
// reports in `myelin status` and exports as metrics. Adapters, so the
// classes they read (datapath, IPAM, stores) stay free of the API and
// metrics types and testable on their own.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <string>
#include <vector>

#include "agent/conntrack_gc.hpp"
#include "agent/endpoint_manager.hpp"
#include "agent/event_pump.hpp"
#include "agent/policy_manager.hpp"
#include "component/component.hpp"
#include "component/components.hpp"
#include "myelin/datapath/datapath.hpp"
#include "myelin/flows/flow_store.hpp"
#include "myelin/ipam/ipam.hpp"
#include "myelin/net.hpp"

namespace myelin::agent {

struct AgentInfo {
  std::string node_name;
  std::string version;
  std::string bpffs_root;
  net::Cidr4 pod_cidr;
  google::protobuf::Timestamp started;
  bool adopted = false;
  std::vector<datapath::Feature> features;
};

// Who this agent is; answers `status` (before ready, too) from every component.
class AgentComponent : public component::Component {
 public:
  AgentComponent(const AgentInfo& info, const component::Components& all) : info_(info), all_(all) {}
  std::string name() const override { return "agent"; }
  void routes(server::Router& r) override;
  void collect(metrics::MetricSink& sink) const override;
  void status(component::StatusBuilder& b) const override;

 private:
  const AgentInfo& info_;
  const component::Components& all_;
  const server::Router* router_ = nullptr;
};

// The pod datapath's counters and the event pump that reads its ring.
class DatapathComponent : public component::Component {
 public:
  DatapathComponent(const datapath::Datapath& dp, EventPump& pump) : dp_(dp), pump_(pump) {}
  std::string name() const override { return "datapath"; }
  Status start() override;
  void stop() override { pump_.stop(); }
  void collect(metrics::MetricSink& sink) const override;
  void status(component::StatusBuilder& b) const override;

 private:
  const datapath::Datapath& dp_;
  EventPump& pump_;
};

class IpamComponent : public component::Component {
 public:
  IpamComponent(ipam::Ipam& ipam, net::Cidr4 pod_cidr) : ipam_(ipam), pod_cidr_(pod_cidr) {}
  std::string name() const override { return "ipam"; }
  void routes(server::Router& r) override;
  void status(component::StatusBuilder& b) const override;
  // What the CNI plugin gives each new pod: its device's MTU and its
  // routes' MTU (tunnel mode: the underlay's, and that minus 50); 0: the
  // plugin's own choice.
  void set_mtu(unsigned device_mtu, unsigned route_mtu) {
    device_mtu_ = device_mtu;
    route_mtu_ = route_mtu;
  }

 private:
  api::Response allocate(const api::IpamAllocateRequest& req);
  api::Response release(const api::IpamReleaseRequest& req);
  ipam::Ipam& ipam_;
  net::Cidr4 pod_cidr_;
  unsigned device_mtu_ = 0, route_mtu_ = 0;
};

// Endpoints as the CNI plugin and `myelin endpoint` see them; each change
// regenerates policy before it is answered.
class EndpointsComponent : public component::Component {
 public:
  EndpointsComponent(EndpointManager& endpoints, const endpoints::EndpointStore& store, PolicyManager& policies)
      : endpoints_(endpoints), store_(store), policies_(policies) {}
  std::string name() const override { return "endpoints"; }
  void routes(server::Router& r) override;
  void collect(metrics::MetricSink& sink) const override;
  void status(component::StatusBuilder& b) const override;

 private:
  api::Response add(const api::EndpointAddRequest& req);
  api::Response del(const api::EndpointDelRequest& req);
  api::Response get(const api::EndpointGetRequest& req) const;
  api::Response list() const;
  api::Response gc(const api::GcRequest& req);
  EndpointManager& endpoints_;
  const endpoints::EndpointStore& store_;
  PolicyManager& policies_;
};

// Flows kept for `myelin observe`.
class FlowsComponent : public component::Component {
 public:
  FlowsComponent(flows::FlowStore& flows, std::string node_name) : flows_(flows), node_name_(std::move(node_name)) {}
  std::string name() const override { return "flows"; }
  void routes(server::Router& r) override;
  void collect(metrics::MetricSink& sink) const override;
  void status(component::StatusBuilder& b) const override;

 private:
  void observe(const api::ObserveRequest& req, const std::function<bool(const api::Response&)>& reply,
               const std::atomic<bool>& cancelled);
  flows::FlowStore& flows_;
  std::string node_name_;
};

class ConntrackGcComponent : public component::Component {
 public:
  explicit ConntrackGcComponent(ConntrackGc& gc) : gc_(gc) {}
  std::string name() const override { return "conntrack-gc"; }
  Status start() override {
    gc_.start();
    return {};
  }
  void stop() override { gc_.stop(); }
  void collect(metrics::MetricSink& sink) const override;
  void status(component::StatusBuilder& b) const override;

 private:
  ConntrackGc& gc_;
};

}  // namespace myelin::agent
