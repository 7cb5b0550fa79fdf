// SPDX-License-Identifier: Apache-2.0
// FlowsComponent: `observe` and the flow store's part of status and metrics (apart from the other adapters: it needs no kernel, so it is unit-tested).
#include "agent/components.hpp"
#include "component/status_builder.hpp"
#include "metrics/metric_sink.hpp"
#include "server/router.hpp"
#include "myelin/flows/flow_filter.hpp"

namespace myelin::agent {

using server::error_response;

// ---- flows ----

void FlowsComponent::routes(server::Router& r) {
  r.add_stream(api::Request::kObserve, [this](const api::Request& q, const server::Dispatcher::Reply& reply,
                                              const std::atomic<bool>& cancelled) { observe(q.observe(), reply, cancelled); });
}

void FlowsComponent::status(component::StatusBuilder& b) const {
  auto& s = b.out();
  s.set_flows_stored(flows_.stored());
  s.set_flows_capacity(flows_.capacity());
  s.set_flows_seen(flows_.seen());
  s.set_events_lost_store(flows_.evicted());
}

void FlowsComponent::collect(metrics::MetricSink& sink) const {
  sink.counter("myelin_lost_events_total", "Events lost before a reader saw them, by where")
      .add({{"source", "flow_store"}}, static_cast<double>(flows_.evicted()));
}

void FlowsComponent::observe(const api::ObserveRequest& req, const std::function<bool(const api::Response&)>& reply,
                             const std::atomic<bool>& cancelled) {
  auto filters = flows::FilterSet::compile(req.whitelist(), req.blacklist());
  if (!filters) {
    reply(error_response(api::INVALID_ARGUMENT, filters.error().message));
    return;
  }
  flows::FlowStore::Cursor cursor;
  auto snapshot = flows_.query(req, node_name_, &cursor);
  if (!snapshot) {
    reply(error_response(api::INVALID_ARGUMENT, snapshot.error().message));
    return;
  }
  for (auto& f : *snapshot) {
    api::Response r;
    *r.mutable_flow() = std::move(f);
    if (!reply(r)) return;
  }
  if (!req.follow()) return;
  while (!cancelled) {
    auto batch = flows_.wait_next(cursor, *filters, std::chrono::milliseconds(250), node_name_);
    for (auto& f : batch) {
      api::Response r;
      *r.mutable_flow() = std::move(f);
      if (!reply(r)) return;
    }
  }
}

}  // namespace myelin::agent
