// SPDX-License-Identifier: Apache-2.0
// StatusBuilder: the `myelin status` answer, built by every component
// appending its own fields. Counters two components share (runtime_lost:
// the process ring and the TracingPolicy ring) are added to, never set.
#pragma once

#include <string>
#include <vector>

#include "myelin.pb.h"
#include "myelin/datapath/datapath.hpp"

namespace myelin::component {

class StatusBuilder {
 public:
  StatusBuilder(api::StatusResponse& out, const std::vector<datapath::Feature>& probed) : out_(out), probed_(probed) {}

  api::StatusResponse& out() { return out_; }
  // A probed kernel feature the current component declared (Component::features);
  // any other name reads as unavailable, saying why.
  datapath::Feature feature(const std::string& name) const;

  // Set by Components before each component's status(): who asks.
  void for_component(std::string name, std::vector<std::string> declared) {
    component_ = std::move(name);
    declared_ = std::move(declared);
  }

 private:
  api::StatusResponse& out_;
  const std::vector<datapath::Feature>& probed_;
  std::string component_;
  std::vector<std::string> declared_;
};

}  // namespace myelin::component
