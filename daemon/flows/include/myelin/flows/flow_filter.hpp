// SPDX-License-Identifier: Apache-2.0
// Hubble's flow filters, compiled once and evaluated in the agent: inside one
// FlowFilter every set field must match (AND); inside one field any value
// may match (OR). A FilterSet is Hubble's whitelist/blacklist pair.
#pragma once

#include <google/protobuf/repeated_ptr_field.h>

#include <functional>
#include <vector>

#include "flow.pb.h"
#include "myelin/result.hpp"

namespace myelin::flows {

class FlowFilter {
 public:
  static Result<FlowFilter> compile(const flow::FlowFilter& f);
  bool matches(const flow::Flow& f) const;

 private:
  std::vector<std::function<bool(const flow::Flow&)>> checks_;
};

class FilterSet {
 public:
  static Result<FilterSet> compile(const google::protobuf::RepeatedPtrField<flow::FlowFilter>& whitelist,
                                   const google::protobuf::RepeatedPtrField<flow::FlowFilter>& blacklist);
  bool matches(const flow::Flow& f) const;

 private:
  std::vector<FlowFilter> white_, black_;
};

}  // namespace myelin::flows
