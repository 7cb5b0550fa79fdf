// SPDX-License-Identifier: Apache-2.0
// The loader's helper for an object loaded over the pod maps (host, overlay).
#pragma once

#include <string>

#include "myelin/result.hpp"

struct bpf_object;

namespace myelin::datapath {

class Datapath;

// Between open and load: each map `obj` pins becomes the pod datapath's map of
// that name (the size and layout it has, migrated or not), never a second
// copy; `who` names the object in the error when the pod datapath has no such map.
Status use_pod_maps(bpf_object* obj, const Datapath& dp, const std::string& who);

}  // namespace myelin::datapath
