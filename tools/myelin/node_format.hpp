// SPDX-License-Identifier: Apache-2.0
// `myelin node list` as text (a row per node: addresses, pod CIDRs,
// source, health, last update; its problem under it), and the cluster's
// lines of `myelin status`.
#pragma once

#include <string>

#include "myelin.pb.h"

namespace myelin::cli {

std::string nodes_table(const api::NodeList& l);
// "Cluster:" and its lines; empty for an agent that does not report one.
std::string cluster_status_text(const api::StatusResponse& s);

}  // namespace myelin::cli
