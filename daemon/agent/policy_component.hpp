// SPDX-License-Identifier: Apache-2.0
// Policy as the API, status and metrics show it: `policy list`, `identity
// list`, `policy trace`, the policy part of `status`; and every refusal,
// network and tracing, in one list (status, myelin_policy_refused).
#pragma once

#include <functional>
#include <memory>

#include "agent/policy_manager.hpp"
#include "component/component.hpp"
#include "myelin.pb.h"
#include "myelin/endpoints/endpoint_store.hpp"
#include "myelin/identity/identity_allocator.hpp"
#include "myelin/services/service_table.hpp"

namespace myelin::tracing { class TracingManager; }

namespace myelin::agent {

// The policy in force on one endpoint, as `endpoint get` shows it.
void fill_policy(const PolicyManager& policies, api::Endpoint& ep);

// What this node serves for Services (the ServiceManager's last table);
// null: Services are not served.
using ServiceTableSource = std::function<std::shared_ptr<const services::ServiceTable>()>;

// `policy trace` from one snapshot (and, with to_service, one ServiceTable):
// the verdict for a new connection from a local endpoint to another, or to
// a Service: each backend as the connection would meet policy after
// translation (the backend's identity and targetPort), and the Service's
// verdict over the backends that take new connections. Pure: unit-tested.
api::Response trace_policy(const PolicySnapshot& snap, const services::ServiceTable* services,
                           const api::PolicyTraceRequest& req);

class PolicyComponent : public component::Component {
 public:
  PolicyComponent(const PolicyManager& policies, const endpoints::EndpointStore& store, const identity::Identities& identities)
      : policies_(policies), store_(store), identities_(identities) {}
  std::string name() const override { return "policy"; }
  void routes(server::Router& r) override;
  void collect(metrics::MetricSink& sink) const override;
  void status(component::StatusBuilder& b) const override;
  // Where `policy trace --to-service` reads the Services; set before start.
  void set_services(ServiceTableSource services) { services_ = std::move(services); }

 private:
  api::Response list(const api::PolicyListRequest& req) const;
  api::Response identity_list() const;
  api::Response trace(const api::PolicyTraceRequest& req) const;
  const PolicyManager& policies_;
  const endpoints::EndpointStore& store_;
  const identity::Identities& identities_;
  ServiceTableSource services_;
};

// Refused network policies and TracingPolicies; the tracing manager, when
// there is one, is asked for at each call (it starts after this is built).
class RefusalsComponent : public component::Component {
 public:
  using Tracing = std::function<const tracing::TracingManager*()>;
  RefusalsComponent(const PolicyManager& policies, Tracing tracing) : policies_(policies), tracing_(std::move(tracing)) {}
  std::string name() const override { return "refusals"; }
  void collect(metrics::MetricSink& sink) const override;
  void status(component::StatusBuilder& b) const override;

 private:
  const PolicyManager& policies_;
  Tracing tracing_;
};

}  // namespace myelin::agent
