// SPDX-License-Identifier: Apache-2.0
// ServicesComponent: the ServiceManager (services/service_manager.hpp) to
// the rest of the agent: `myelin service list|get` (each Service as stored
// and as translated: frontends, backends with state, affinity, where the
// endpoints came from, why it is not proxied; then the sources refused for
// a Service), its part of `myelin status`, and its metrics (Services by type,
// frontends by kind, backends by state: bounded labels).
#pragma once

#include "component/component.hpp"
#include "myelin.pb.h"
#include "myelin/endpoints/endpoint_store.hpp"
#include "myelin/services/service_manager.hpp"

namespace myelin::agent {

// The endpoint store's records as the translation reads them.
std::vector<services::LocalEndpoint> local_endpoints(const endpoints::EndpointStore& store);

api::Response service_list(const services::ServiceManager::Snapshot& snap, const objects::ObjectStore& store,
                           const api::ServiceListRequest& req);
void to_proto(const services::Service& translated, api::ServiceInfo* out);

class ServicesComponent : public component::Component {
 public:
  ServicesComponent(services::ServiceManager& manager, const objects::ObjectStore& store) : manager_(manager), store_(store) {}
  std::string name() const override { return "services"; }
  Status start() override;
  void routes(server::Router& r) override;
  void status(component::StatusBuilder& b) const override;
  void collect(metrics::MetricSink& sink) const override;

 private:
  services::ServiceManager& manager_;
  const objects::ObjectStore& store_;
};

// Until the LbWriter (services/lb_writer.hpp) is wired: logs each table's
// size, so the agent runs the translation and the CLI shows it.
class LoggingSink : public services::TableSink {
 public:
  void apply(const services::ServiceTable& table, bool all_synced) override;
};

}  // namespace myelin::agent
