// SPDX-License-Identifier: Apache-2.0
// Bounds on a YAML text before any decoder builds its node tree: how deep it
// nests and how many nodes it stands for, aliases expanded (a few aliases can
// stand for billions of nodes, and yaml-cpp spends ~500 bytes per node it
// builds). Checked on the parser's events alone, so an oversized or hostile
// text costs one pass of CPU and no tree.
#pragma once

#include <cstddef>
#include <string>

#include <optional>

#include "myelin/policy/refusal.hpp"

namespace myelin::policy {

struct YamlLimits {
  size_t max_depth = 64;        // mappings and sequences inside each other; Kubernetes objects nest ~15 deep
  size_t max_nodes = 250'000;   // per text, aliases expanded: ~8,000 NetworkPolicies, ~120 MB of yaml-cpp tree
};

// The refusal (file, line, why) for the first bound passed; nullopt when the
// text is within bounds (a syntax error is left to the decoders).
std::optional<Refusal> check_yaml_limits(const std::string& text, const std::string& file, const YamlLimits& limits = {});

}  // namespace myelin::policy
