// SPDX-License-Identifier: Apache-2.0
// GpuProbes: uprobes of gpu.bpf.c on CUDA runtime/driver libraries. Each
// program is attached to every given library file that exports its symbol
// (a library without it is skipped and said so); per-process counters are
// read from the LRU map.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "myelin/abi/sensors.h"
#include "myelin/bpf/link.hpp"
#include "myelin/bpf/skeleton.hpp"
#include "myelin/result.hpp"

struct gpu;

namespace myelin::datapath {

const char* gpu_function_name(uint32_t fn);  // "cudaMalloc", ...

class GpuProbes {
 public:
  // libraries: paths of libcudart.so* / libcuda.so* files.
  static Result<std::unique_ptr<GpuProbes>> attach(const std::vector<std::string>& libraries);

  const std::vector<std::string>& attached() const { return attached_; }  // "lib: symbol"
  std::map<uint32_t, myelin_gpu_stats> stats() const;                     // by tgid

 private:
  GpuProbes() = default;
  bpf::Skeleton<gpu> skel_;
  std::vector<bpf::Link> links_;
  std::vector<std::string> attached_;
};

}  // namespace myelin::datapath
