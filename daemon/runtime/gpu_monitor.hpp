// SPDX-License-Identifier: Apache-2.0
// GpuMonitor: the GPU uprobes' per-process counters joined with what the
// agent knows of each process (binary, pod). Libraries come from
// --gpu-libs, or are looked for where CUDA installs them. Only library
// files given or found are probed: a container shipping its own copy of
// libcudart is covered when that path (e.g. under /proc/PID/root) is given.
#pragma once

#include <glob.h>

#include <map>
#include <memory>
#include <sstream>

#include "myelin/datapath/gpu_probes.hpp"
#include "runtime_monitor.hpp"

namespace myelin::runtime {

struct GpuProcess {
  uint32_t pid = 0;
  std::string binary;
  std::optional<PodRef> pod;
  myelin_gpu_stats stats{};
};

class GpuMonitor {
 public:
  static std::vector<std::string> find_libraries(const std::string& flag) {
    std::vector<std::string> out;
    if (flag != "auto") {
      std::stringstream ss(flag);
      for (std::string p; std::getline(ss, p, ',');)
        if (!p.empty()) out.push_back(p);
      return out;
    }
    for (const char* pattern : {"/usr/lib/x86_64-linux-gnu/libcudart.so.*", "/usr/local/cuda/lib64/libcudart.so.*",
                                "/usr/lib/x86_64-linux-gnu/libcuda.so.*", "/usr/lib64/libcuda.so.*"}) {
      glob_t g{};
      if (glob(pattern, 0, nullptr, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
      globfree(&g);
    }
    return out;
  }

  GpuMonitor(std::unique_ptr<datapath::GpuProbes> probes, const RuntimeMonitor* runtime, ProcessCache::PodResolver pods)
      : probes_(std::move(probes)), runtime_(runtime), pods_(std::move(pods)) {}

  const std::vector<std::string>& attached() const { return probes_->attached(); }

  std::vector<GpuProcess> processes() const {
    std::vector<GpuProcess> out;
    for (const auto& [pid, s] : probes_->stats()) {
      GpuProcess g;
      g.pid = pid;
      g.stats = s;
      auto p = runtime_ ? runtime_->process(pid) : std::nullopt;
      g.binary = p && !p->binary.empty() ? p->binary : std::string(s.comm, strnlen(s.comm, sizeof s.comm));
      g.pod = p && p->pod ? p->pod : pods_ ? pods_(s.netns, 0) : std::nullopt;
      out.push_back(std::move(g));
    }
    return out;
  }

 private:
  std::unique_ptr<datapath::GpuProbes> probes_;
  const RuntimeMonitor* runtime_;
  ProcessCache::PodResolver pods_;
};

}  // namespace myelin::runtime
