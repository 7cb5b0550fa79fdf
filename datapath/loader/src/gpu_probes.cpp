// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/gpu_probes.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "gpu.skel.h"

namespace myelin::datapath {

const char* gpu_function_name(uint32_t fn) {
  static const char* const names[] = {"cudaMalloc",    "cudaFree",      "cudaMemcpy",      "cudaMemcpyAsync", "cudaLaunchKernel",
                                      "cuLaunchKernel", "cuMemAlloc_v2", "cuMemcpyHtoD_v2", "cuMemcpyDtoH_v2"};
  return fn < MYELIN_GPU_FN_MAX ? names[fn] : "?";
}

Result<std::unique_ptr<GpuProbes>> GpuProbes::attach(const std::vector<std::string>& libraries) {
  std::unique_ptr<GpuProbes> g(new GpuProbes());
  auto skel = bpf::Skeleton<gpu>::open("gpu (CUDA uprobes)");
  if (!skel) return skel.error();
  g->skel_ = std::move(*skel);
  if (auto s = g->skel_.load(); !s) return s.error();
  bpf_program* progs[MYELIN_GPU_FN_MAX] = {
      g->skel_->progs.myelin_cuda_malloc,       g->skel_->progs.myelin_cuda_free,        g->skel_->progs.myelin_cuda_memcpy,
      g->skel_->progs.myelin_cuda_memcpy_async, g->skel_->progs.myelin_cuda_launch_kernel, g->skel_->progs.myelin_cu_launch_kernel,
      g->skel_->progs.myelin_cu_mem_alloc,      g->skel_->progs.myelin_cu_memcpy_htod,   g->skel_->progs.myelin_cu_memcpy_dtoh};
  // libbpf warns for every symbol a library lacks: expected here, not logged.
  bpf::QuietLibbpf quiet;
  for (const auto& lib : libraries)
    for (uint32_t fn = 0; fn < MYELIN_GPU_FN_MAX; ++fn) {
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = gpu_function_name(fn));
      auto l = bpf::Link::attach(lib + ": " + gpu_function_name(fn),
                                 [&] { return bpf_program__attach_uprobe_opts(progs[fn], -1, lib.c_str(), 0, &opts); });
      if (!l) continue;  // this library does not export it
      g->links_.push_back(std::move(*l));
      g->attached_.push_back(lib + ": " + gpu_function_name(fn));
    }
  if (g->links_.empty()) return Error{"no CUDA symbol found in the given libraries"};
  return g;
}

std::map<uint32_t, myelin_gpu_stats> GpuProbes::stats() const {
  std::map<uint32_t, myelin_gpu_stats> out;
  int fd = bpf_map__fd(skel_->maps.myelin_gpu_stats);
  uint32_t key = 0, next = 0;
  uint32_t* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    myelin_gpu_stats s{};
    if (bpf_map_lookup_elem(fd, &next, &s) == 0) out[next] = s;
    key = next;
    prev = &key;
  }
  return out;
}

}  // namespace myelin::datapath
