// SPDX-License-Identifier: Apache-2.0
#include "runtime_monitor.hpp"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "myelin/log.hpp"

namespace myelin::runtime {
namespace {

int64_t now_ns(clockid_t c) {
  timespec ts{};
  clock_gettime(c, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

}  // namespace

RuntimeMonitor::RuntimeMonitor(std::string node_name, ProcessCache::PodResolver pods, size_t store_size)
    : node_(node_name), cache_(std::move(node_name), std::move(pods)), store_(store_size),
      mono_to_wall_ns_(now_ns(CLOCK_REALTIME) - now_ns(CLOCK_MONOTONIC)) {}

RuntimeMonitor::~RuntimeMonitor() { stop(); }

void RuntimeMonitor::add(Event ev) {
  {
    std::lock_guard lk(stats_mu_);
    ++counts_[{ev.type_name(), ev.policy}];
    if (ev.action) ++actions_[{ev.action_name(), ev.policy}];
  }
  store_.push(std::move(ev));
}

void RuntimeMonitor::handle(const myelin_process_event& e) {
  const int64_t wall = static_cast<int64_t>(e.ktime_ns) + mono_to_wall_ns_;
  switch (e.type) {
    case MYELIN_PROC_EXEC: {
      auto [p, parent] = cache_.on_exec(e);
      add(Event{Event::Type::exec, wall, std::move(p), std::move(parent)});
      break;
    }
    case MYELIN_PROC_FORK:
      cache_.on_fork(e);
      break;
    case MYELIN_PROC_EXIT: {
      auto [p, parent] = cache_.on_exit(e);
      Event ev{Event::Type::exit, wall, std::move(p), std::move(parent)};
      const int sig = static_cast<int>(e.exit_code & 0x7f);
      if (sig) {
        const char* abbrev = sigabbrev_np(sig);
        ev.signal = abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
      } else {
        ev.status = (e.exit_code >> 8) & 0xff;
      }
      add(std::move(ev));
      break;
    }
    default:
      break;
  }
}

Status RuntimeMonitor::start() {
  // Attach first, then scan: a process started in between is seen twice
  // (procFS and execve), never missed.
  auto probes = datapath::RuntimeProbes::start([this](const myelin_process_event& e) { handle(e); });
  if (!probes) return probes.error();
  probes_ = std::move(*probes);
  const int64_t now = now_ns(CLOCK_REALTIME);
  auto found = cache_.scan_proc();
  for (auto& p : found) {
    auto parent = cache_.get(p.ppid);
    add(Event{Event::Type::exec, now, std::move(p), std::move(parent)});
  }
  log::info("runtime", "process probes attached (tp_btf sched_process_exec/exit/fork); " + std::to_string(found.size()) +
                           " running processes discovered from /proc");
  running_ = true;
  thread_ = std::thread([this] {
    while (running_) {
      int n = probes_->poll(50);
      if (n < 0 && n != -EINTR) {
        log::error("runtime", std::string("process events: ") + strerror(-n));
        break;
      }
      std::lock_guard lk(poller_mu_);
      for (auto& [id, poll] : pollers_) poll();
    }
  });
  return {};
}

void RuntimeMonitor::stop() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
  probes_.reset();
}

int RuntimeMonitor::add_poller(std::function<void()> consume) {
  std::lock_guard lk(poller_mu_);
  pollers_[next_poller_] = std::move(consume);
  return next_poller_++;
}

void RuntimeMonitor::remove_poller(int id) {
  std::lock_guard lk(poller_mu_);  // once this returns, the poller no longer runs
  pollers_.erase(id);
}

namespace {

// A process the cache does not know yet (its exec record is on the other
// ring buffer, not read yet): what /proc says while it still runs.
void fill_unknown(Process& p, uint32_t pid, uint32_t uid, uint32_t netns) {
  p.pid = pid;
  p.uid = uid;
  p.netns = netns;
  char exe[4096];
  ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), exe, sizeof exe - 1);
  if (n > 0) p.binary.assign(exe, static_cast<size_t>(n));
  p.flags = "procFS";
}

}  // namespace

void RuntimeMonitor::publish_for(Event ev, uint32_t pid, uint32_t tid, uint32_t uid, uint32_t netns) {
  if (!process(pid)) catch_up();  // its exec record may be waiting in the process ring
  if (auto proc = process(pid)) {
    ev.process = *proc;
    ev.parent = process(proc->ppid);
  } else {
    fill_unknown(ev.process, pid, uid, netns);
  }
  ev.process.tid = tid;
  add(std::move(ev));
}

void RuntimeMonitor::catch_up() {
  if (probes_) probes_->poll(0);
}

RuntimeMonitor::Stats RuntimeMonitor::stats() const {
  Stats s;
  {
    std::lock_guard lk(stats_mu_);
    s.events = counts_;
    s.actions = actions_;
  }
  if (probes_) s.lost = probes_->stats().events_lost;
  s.overwritten = store_.overwritten();
  s.processes = cache_.size();
  return s;
}

}  // namespace myelin::runtime
