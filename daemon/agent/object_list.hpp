// SPDX-License-Identifier: Apache-2.0
// `myelin service|endpointslice|node list`: the object store's Services,
// EndpointSlices and Nodes as decoded (read-only), and the sources refused
// for a document of that kind.
#pragma once

#include "myelin.pb.h"
#include "myelin/objects/object_store.hpp"

namespace myelin::agent {

api::Response object_list(const objects::ObjectStore& store, const api::ObjectListRequest& req);

}  // namespace myelin::agent
