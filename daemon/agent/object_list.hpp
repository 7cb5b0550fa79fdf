// SPDX-License-Identifier: Apache-2.0
// `myelin service|endpointslice|node list`: the object store's Services,
// EndpointSlices and Nodes as decoded (read-only), and the sources refused
// for a document of that kind.
#pragma once

#include "component/component.hpp"
#include "myelin.pb.h"
#include "myelin/objects/object_store.hpp"

namespace myelin::agent {

api::Response object_list(const objects::ObjectStore& store, const api::ObjectListRequest& req);
// A Service as decoded (its spec), for object list and service list.
void to_proto(const objects::Service& s, api::ServiceInfo* out);

// The store's read-only listings as a component (its route).
class ObjectsComponent : public component::Component {
 public:
  explicit ObjectsComponent(const objects::ObjectStore& store) : store_(store) {}
  std::string name() const override { return "objects"; }
  void routes(server::Router& r) override;

 private:
  const objects::ObjectStore& store_;
};

}  // namespace myelin::agent
