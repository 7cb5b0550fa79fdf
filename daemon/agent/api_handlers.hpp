// SPDX-License-Identifier: Apache-2.0
// ApiHandlers: what each local API request means, as a table from request
// kind to handler. It reads the agent's components; it owns none of them.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <atomic>
#include <string>
#include <vector>

#include "../server/api_server.hpp"
#include "endpoint_manager.hpp"
#include "policy_manager.hpp"
#include "event_pump.hpp"
#include "conntrack_gc.hpp"
#include "myelin/datapath/datapath.hpp"
#include "myelin/flows/flow_store.hpp"
#include "runtime/runtime_monitor.hpp"
#include "runtime/gpu_monitor.hpp"
#include "runtime/storage_monitor.hpp"
#include "tracing/tracing_manager.hpp"

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

class ApiHandlers : public server::Dispatcher {
 public:
  ApiHandlers(const AgentInfo& info, EndpointManager& endpoints, endpoints::EndpointStore& store, ipam::Ipam& ipam,
              flows::FlowStore& flows, datapath::Datapath& dp, const EventPump& pump, const ConntrackGc& ct_gc,
              PolicyManager& policies, const runtime::RuntimeMonitor* runtime = nullptr, std::string runtime_error = "",
              const tracing::TracingManager* tracing = nullptr, const runtime::GpuMonitor* gpu = nullptr,
              const runtime::StorageMonitor* storage = nullptr);

  void set_ready(bool ready) { ready_ = ready; }
  void set_object_store(const objects::ObjectStore* objects) { objects_ = objects; }  // Services, EndpointSlices, Nodes
  void handle(const api::Request& req, const Reply& reply, const std::atomic<bool>& cancelled) override;

 private:
  const objects::ObjectStore* objects_ = nullptr;
  api::Response status() const;
  api::Response ipam_allocate(const api::IpamAllocateRequest& r);
  api::Response ipam_release(const api::IpamReleaseRequest& r);
  api::Response endpoint_add(const api::EndpointAddRequest& r);
  api::Response endpoint_del(const api::EndpointDelRequest& r);
  api::Response endpoint_get(const api::EndpointGetRequest& r) const;
  api::Response endpoint_list() const;
  api::Response gc(const api::GcRequest& r);
  api::Response policy_list(const api::PolicyListRequest& r) const;
  api::Response identity_list() const;
  api::Response policy_trace(const api::PolicyTraceRequest& r) const;
  void fill_policy(api::Endpoint& ep) const;
  void observe(const api::ObserveRequest& r, const Reply& reply, const std::atomic<bool>& cancelled);
  void events(const api::EventsRequest& r, const Reply& reply, const std::atomic<bool>& cancelled);
  api::Response tracing_policy_list() const;
  api::Response gpu_list() const;
  api::Response storage_list() const;

  const AgentInfo& info_;
  EndpointManager& endpoints_;
  endpoints::EndpointStore& store_;
  ipam::Ipam& ipam_;
  flows::FlowStore& flows_;
  datapath::Datapath& dp_;
  const EventPump& pump_;
  const ConntrackGc& ct_gc_;
  PolicyManager& policies_;
  const runtime::RuntimeMonitor* runtime_;
  std::string runtime_error_;
  const tracing::TracingManager* tracing_;
  const runtime::GpuMonitor* gpu_;
  const runtime::StorageMonitor* storage_;
  std::atomic<bool> ready_{false};
};

}  // namespace myelin::agent
