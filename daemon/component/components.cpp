// SPDX-License-Identifier: Apache-2.0
#include "components.hpp"

#include <algorithm>

#include "status_builder.hpp"

namespace myelin::component {

datapath::Feature StatusBuilder::feature(const std::string& name) const {
  if (std::find(declared_.begin(), declared_.end(), name) == declared_.end())
    return {name, false, "not declared by the " + component_ + " component"};
  for (const auto& f : probed_)
    if (f.name == name) return f;
  return {name, false, "not probed"};
}

Components::~Components() {
  stop();
  while (!entries_.empty()) entries_.pop_back();  // later components may point at earlier ones
}

void Components::add(std::unique_ptr<Component> c) { entries_.push_back({std::move(c), false}); }

Status Components::check_features() const {
  for (const auto& e : entries_)
    for (const auto& want : e.component->features())
      if (std::none_of(probed_.begin(), probed_.end(), [&](const datapath::Feature& f) { return f.name == want; }))
        return Error{"component " + e.component->name() + " reads kernel feature '" + want + "', which the probe does not report"};
  return {};
}

Status Components::start() {
  for (auto& e : entries_) {
    if (e.started) continue;
    if (auto s = e.component->start(); !s) return s;
    e.started = true;
  }
  return {};
}

void Components::stop() {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
    if (it->started) {
      it->component->stop();
      it->started = false;
    }
}

void Components::routes(server::Router& router) {
  for (auto& e : entries_) e.component->routes(router);
}

void Components::collect(metrics::MetricSink& sink) const {
  for (const auto& e : entries_) e.component->collect(sink);
}

void Components::status(api::StatusResponse& out) const {
  StatusBuilder b(out, probed_);
  for (const auto& e : entries_) {
    b.for_component(e.component->name(), e.component->features());
    e.component->status(b);
  }
}

}  // namespace myelin::component
