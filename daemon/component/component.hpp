// SPDX-License-Identifier: Apache-2.0
// daemon/component (myelin_component): the interface every part of the agent implements, the list main builds, StatusBuilder.
// Component: what every part of the agent is to the rest of it. A component
// starts and stops, registers the API requests it answers, collects its own
// metrics, appends its part of `myelin status`, and names the kernel
// features it reads. main() builds the list; nothing else knows the list.
#pragma once

#include <string>
#include <vector>

#include "myelin/result.hpp"

namespace myelin::server { class Router; }
namespace myelin::metrics { class MetricSink; }

namespace myelin::component {

class StatusBuilder;

class Component {
 public:
  virtual ~Component() = default;
  // Short and stable: it prefixes the component's start-up errors and logs.
  virtual std::string name() const = 0;
  // An error stops the agent (exit 1, the message logged). A feature that may
  // be off (probes that do not load here) logs why and returns ok.
  virtual Status start() { return {}; }
  virtual void stop() {}
  virtual void routes(server::Router&) {}
  // Called from the exporter's thread at scrape time, after start().
  virtual void collect(metrics::MetricSink&) const {}
  // Called from an API thread, after start().
  virtual void status(StatusBuilder&) const {}
  // Probed kernel features (datapath::probe_features names) this component
  // reads; StatusBuilder::feature answers only these, and an unknown name is
  // a start-up error, so a renamed feature cannot silently read as missing.
  virtual std::vector<std::string> features() const { return {}; }
};

}  // namespace myelin::component
