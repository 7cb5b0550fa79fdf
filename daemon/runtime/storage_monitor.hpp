// SPDX-License-Identifier: Apache-2.0
// StorageMonitor: block I/O per device and process (with its binary and
// pod) from the block probes' in-kernel counters and latency histograms.
#pragma once

#include <fstream>
#include <map>
#include <memory>
#include <mutex>

#include "myelin/datapath/storage_probes.hpp"
#include "runtime_monitor.hpp"

namespace myelin::runtime {

struct StorageEntry {
  std::string device;  // "vda" (or "254:0" when /sys does not name it)
  uint32_t pid = 0;
  std::string binary;
  std::optional<PodRef> pod;
  myelin_block_stats stats{};
};

// The upper bound, in microseconds, under which `q` of the samples fall.
inline uint64_t histogram_quantile_us(const myelin_block_stats& s, double q) {
  uint64_t total = 0, seen = 0;
  for (auto n : s.latency_hist) total += n;
  if (total == 0) return 0;
  for (int i = 0; i < MYELIN_BLOCK_LAT_BUCKETS; ++i) {
    seen += s.latency_hist[i];
    if (static_cast<double>(seen) >= q * static_cast<double>(total)) return 1ull << i;
  }
  return 1ull << (MYELIN_BLOCK_LAT_BUCKETS - 1);
}

class StorageMonitor {
 public:
  StorageMonitor(std::unique_ptr<datapath::StorageProbes> probes, const RuntimeMonitor* runtime, ProcessCache::PodResolver pods)
      : probes_(std::move(probes)), runtime_(runtime), pods_(std::move(pods)) {}

  // Cached: metrics scrapes ask for every entry.
  std::string device_name(uint32_t kdev) const {
    std::lock_guard lk(names_mu_);
    auto [it, fresh] = names_.try_emplace(kdev);
    if (fresh) it->second = read_device_name(kdev);
    return it->second;
  }
  static std::string read_device_name(uint32_t kdev) {
    const std::string majmin = std::to_string(kdev >> 20) + ":" + std::to_string(kdev & 0xfffff);
    std::ifstream in("/sys/dev/block/" + majmin + "/uevent");
    for (std::string line; std::getline(in, line);)
      if (line.rfind("DEVNAME=", 0) == 0) return line.substr(8);
    return majmin;
  }

  std::vector<StorageEntry> entries() const {
    std::vector<StorageEntry> out;
    for (const auto& [k, s] : probes_->stats()) {
      StorageEntry e;
      e.device = device_name(k.first);
      e.pid = k.second;
      e.stats = s;
      auto p = runtime_ ? runtime_->process(k.second) : std::nullopt;
      e.binary = p && !p->binary.empty() ? p->binary : std::string(s.comm, strnlen(s.comm, sizeof s.comm));
      e.pod = p && p->pod ? p->pod : pods_ ? pods_(s.netns, 0) : std::nullopt;
      out.push_back(std::move(e));
    }
    return out;
  }

 private:
  std::unique_ptr<datapath::StorageProbes> probes_;
  const RuntimeMonitor* runtime_;
  ProcessCache::PodResolver pods_;
  mutable std::mutex names_mu_;
  mutable std::map<uint32_t, std::string> names_;
};

}  // namespace myelin::runtime
