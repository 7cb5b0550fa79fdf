// SPDX-License-Identifier: Apache-2.0
// daemon/config (myelin_config): myelind's flags, declared once with their help, default and validation.
// myelind's flags: one table of name, help, default and validator. A bad
// value fails at parse time with the message the table gives; main reads
// values that are known good.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "myelin/flags.hpp"

namespace myelin::config {

Flags agent_flags(const std::string& default_node_name);
// What no single flag can check: --ipam against --pod-cidr, --kvstore and its endpoints, TLS pairs.
Status check_cluster_flags(const Flags& f);

// "100" (MiB), "512K", "10M", "2G" -> bytes.
std::optional<uint64_t> parse_size(const std::string& v);

// "<node-name>" in a default path, replaced by the node's name.
std::string expand_node_name(std::string v, const std::string& node);

}  // namespace myelin::config
