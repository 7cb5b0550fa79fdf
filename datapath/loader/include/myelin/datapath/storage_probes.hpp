// SPDX-License-Identifier: Apache-2.0
// StorageProbes: block.bpf.c on the block_rq_issue/complete tracepoints;
// per (device, process) counters and latency histograms read from its map.
#pragma once

#include <map>
#include <memory>
#include <utility>

#include "myelin/abi/sensors.h"
#include "myelin/bpf/skeleton.hpp"
#include "myelin/result.hpp"

struct block;

namespace myelin::datapath {

class StorageProbes {
 public:
  static Result<std::unique_ptr<StorageProbes>> start();
  std::map<std::pair<uint32_t, uint32_t>, myelin_block_stats> stats() const;  // by (dev, tgid)

 private:
  StorageProbes() = default;
  bpf::Skeleton<block> skel_;
};

}  // namespace myelin::datapath
