// SPDX-License-Identifier: Apache-2.0
// `myelin observe` flags -> an ObserveRequest with Hubble flow filters. Pure:
// no I/O, so every flag is unit-tested. The agent does the filtering.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "myelin.pb.h"
#include "myelin/result.hpp"

namespace myelin::cli {

// args: the words after `observe` (flags and values). now: for relative --since/--until.
Result<api::ObserveRequest> build_observe_request(const std::vector<std::string>& args,
                                                  std::chrono::system_clock::time_point now);
// "30s", "5m", "2h", "1d" before now, or an RFC 3339 time.
Result<google::protobuf::Timestamp> parse_time(const std::string& v, std::chrono::system_clock::time_point now);
std::string observe_help();

}  // namespace myelin::cli
