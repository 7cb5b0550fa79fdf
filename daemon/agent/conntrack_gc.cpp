// SPDX-License-Identifier: Apache-2.0
#include "conntrack_gc.hpp"

#include <time.h>

#include "myelin/log.hpp"

namespace myelin::agent {

ConntrackGc::ConntrackGc(datapath::Datapath& dp, datapath::CtTimeouts timeouts, std::chrono::seconds interval,
                         metrics::AgentCounters& counters)
    : dp_(dp), timeouts_(timeouts), counters_(counters), interval_(interval) {}

ConntrackGc::~ConntrackGc() { stop(); }

void ConntrackGc::start() {
  thread_ = std::thread([this] {
    std::unique_lock lk(mu_);
    while (!cv_.wait_for(lk, interval_, [this] { return stop_; })) {
      lk.unlock();
      auto r = run_once();
      if (!r) log::warn("conntrack", "gc failed: " + r.error().message);
      lk.lock();
    }
  });
}

void ConntrackGc::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<datapath::CtGcResult> ConntrackGc::run_once() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // the clock bpf_ktime_get_ns() reads
  uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  auto r = dp_.ct_gc(timeouts_, now);
  if (!r) {
    counters_.map_op(MYELIN_MAP_CT, "delete", false);
    return r;
  }
  if (r->deleted) counters_.map_op(MYELIN_MAP_CT, "delete", true, r->deleted);
  ++runs_;
  std::lock_guard lk(mu_);
  last_ = *r;
  if (r->deleted) log::debug("conntrack", "gc removed " + std::to_string(r->deleted) + " of " + std::to_string(r->scanned));
  return r;
}

datapath::CtGcResult ConntrackGc::last() const {
  std::lock_guard lk(mu_);
  return last_;
}

}  // namespace myelin::agent
