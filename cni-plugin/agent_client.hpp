// SPDX-License-Identifier: Apache-2.0
// One request/response exchange with myelind over its Unix socket, with
// failures mapped to CNI error codes (unreachable agent: try again later).
#pragma once

#include <variant>

#include "cni_config.hpp"
#include "myelin.pb.h"

namespace myelin::cni {

// Returns the response, or a CniError when the agent is unreachable or
// answered with an error.
std::variant<api::Response, CniError> agent_call(const std::string& socket, const api::Request& req);

}  // namespace myelin::cni
