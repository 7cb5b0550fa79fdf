// SPDX-License-Identifier: Apache-2.0
// `myelin bpf lb list` as text: each frontend entry of the load-balancing
// maps with its slots, then the backends, then what could not be installed.
#pragma once

#include <string>

#include "myelin.pb.h"

namespace myelin::cli {

std::string lb_table(const api::LbList& l);

}  // namespace myelin::cli
