// SPDX-License-Identifier: Apache-2.0
#include "process_cache.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cgroup_index.hpp"
#include "myelin/atomic_file.hpp"

namespace myelin::runtime {
namespace {

constexpr size_t kExitedKept = 4096;


std::string read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

std::string read_all(const std::string& path) {  // "" when gone: a process may exit while we read it
  auto r = read_file(path);
  return r && *r ? **r : std::string();
}

uint32_t netns_of(const std::string& pid_dir) {
  struct stat st {};
  return stat((pid_dir + "/ns/net").c_str(), &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
}

}  // namespace

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

std::string join_args(const char* block, size_t len, bool skip_argv0) {
  std::string out;
  size_t i = 0;
  if (skip_argv0) {
    while (i < len && block[i]) ++i;
    ++i;
  }
  for (; i < len; ++i) out += block[i] ? block[i] : ' ';
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

ProcessCache::ProcessCache(std::string node_name, PodResolver pods)
    : node_(std::move(node_name)), pods_(std::move(pods)), cgroup2_(CgroupIndex::cgroup2_mount()) {}

std::string ProcessCache::exec_id(uint64_t start_ns, uint32_t pid) const {
  return base64(node_ + ":" + std::to_string(start_ns) + ":" + std::to_string(pid));
}

std::optional<Process> ProcessCache::known_locked(uint32_t ppid) const {
  if (auto it = live_.find(ppid); it != live_.end()) return it->second;
  if (auto it = exited_.find(ppid); it != exited_.end()) return it->second;
  return std::nullopt;
}

std::vector<Process> ProcessCache::scan_proc(const std::string& proc) {
  std::vector<Process> found;
  DIR* d = opendir(proc.c_str());
  if (!d) return found;
  const long ticks = sysconf(_SC_CLK_TCK);
  while (dirent* de = readdir(d)) {
    if (!std::all_of(de->d_name, de->d_name + std::strlen(de->d_name), ::isdigit)) continue;
    const std::string dir = proc + "/" + de->d_name;
    std::string stat = read_all(dir + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    uint64_t f[20] = {};
    rest >> state;
    for (auto& x : f) rest >> x;  // ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime prio nice threads itreal starttime
    Process p;
    p.pid = p.tid = static_cast<uint32_t>(std::stoul(de->d_name));
    p.ppid = static_cast<uint32_t>(f[0]);
    p.start_mono_ns = f[18] * (1000000000ull / static_cast<uint64_t>(ticks));  // boot-relative, like task->start_time
    std::string status = read_all(dir + "/status");
    if (auto u = status.find("\nUid:"); u != std::string::npos) p.uid = static_cast<uint32_t>(std::stoul(status.substr(u + 5)));
    std::string login = read_all(dir + "/loginuid");
    if (!login.empty()) p.auid = static_cast<uint32_t>(std::stoul(login));
    std::string cmd = read_all(dir + "/cmdline");
    if (cmd.empty()) continue;  // kernel threads
    p.binary = read_link(dir + "/exe");
    if (p.binary.empty()) p.binary = cmd.substr(0, cmd.find('\0'));
    p.arguments = join_args(cmd.data(), cmd.size(), true);
    p.cwd = read_link(dir + "/cwd");
    p.netns = netns_of(dir);
    p.flags = "procFS";
    p.exec_id = exec_id(p.start_mono_ns, p.pid);
    p.cgroup_id = CgroupIndex::cgroup_of(dir, cgroup2_);
    if (pods_) p.pod = pods_(p.netns, p.cgroup_id);
    found.push_back(std::move(p));
  }
  closedir(d);
  std::sort(found.begin(), found.end(), [](const Process& a, const Process& b) { return a.start_mono_ns < b.start_mono_ns; });
  std::lock_guard lk(mu_);
  for (auto& p : found) {
    if (auto parent = known_locked(p.ppid)) p.parent_exec_id = parent->exec_id;
    live_[p.pid] = p;
  }
  return found;
}

// The ids every record carries.
static void set_ids(Process& p, const myelin_process_event& e) {
  p.pid = e.pid;
  p.tid = e.tid;
  p.ppid = e.ppid;
  p.uid = e.uid;
  p.auid = e.auid;
  p.netns = e.netns;
}

std::pair<Process, std::optional<Process>> ProcessCache::on_exec(const myelin_process_event& e) {
  Process p;
  set_ids(p, e);
  p.cgroup_id = e.cgroup_id;
  p.start_mono_ns = e.ktime_ns;  // a new image: its exec time names it
  p.binary.assign(e.binary, strnlen(e.binary, sizeof e.binary));
  p.arguments = join_args(e.args, std::min<size_t>(e.args_len, sizeof e.args), true);
  p.flags = "execve";
  if (e.flags & MYELIN_PROC_F_ARGS_TRUNCATED) p.flags += " truncArgs";
  if (e.flags & MYELIN_PROC_F_ARGS_UNREADABLE) p.flags += " errorArgs";
  if (e.flags & MYELIN_PROC_F_BINARY_TRUNCATED) p.flags += " truncFilename";
  p.cwd = read_link("/proc/" + std::to_string(e.pid) + "/cwd");  // empty if it already exited
  if (p.cwd.empty()) p.flags += " nocwd";
  else if (p.cwd == "/") p.flags += " rootcwd";
  p.exec_id = exec_id(e.ktime_ns, e.pid);
  if (pods_) p.pod = pods_(e.netns, e.cgroup_id);
  std::lock_guard lk(mu_);
  auto parent = known_locked(e.ppid);
  if (parent) p.parent_exec_id = parent->exec_id;
  live_[p.pid] = p;
  return {p, parent};
}

void ProcessCache::on_fork(const myelin_process_event& e) {
  std::lock_guard lk(mu_);
  Process p;
  if (auto parent = known_locked(e.ppid)) {
    p = *parent;  // same image until it execs
    p.parent_exec_id = parent->exec_id;
  } else {
    p.binary.assign(e.binary, strnlen(e.binary, sizeof e.binary));  // the parent's comm: all we know
  }
  set_ids(p, e);
  p.start_mono_ns = e.start_ns;
  p.flags = "clone";
  p.exec_id = exec_id(e.start_ns, e.pid);
  if (pods_) p.pod = pods_(e.netns, p.cgroup_id);
  live_[p.pid] = std::move(p);
}

std::pair<Process, std::optional<Process>> ProcessCache::on_exit(const myelin_process_event& e) {
  std::lock_guard lk(mu_);
  Process p;
  if (auto it = live_.find(e.pid); it != live_.end()) {
    p = std::move(it->second);
    live_.erase(it);
  } else {  // started before we watched and missed by the scan: what the record says
    set_ids(p, e);
    p.start_mono_ns = e.start_ns;
    p.binary.assign(e.comm, strnlen(e.comm, sizeof e.comm));
    p.exec_id = exec_id(e.start_ns, e.pid);
    if (pods_) p.pod = pods_(e.netns, 0);
  }
  auto parent = known_locked(p.ppid);
  // A pid that exited before (reused): its older place in the order goes,
  // or trimming that place would forget this newer exit early.
  if (exited_.count(p.pid)) exited_order_.erase(std::find(exited_order_.begin(), exited_order_.end(), p.pid));
  exited_[p.pid] = p;
  exited_order_.push_back(p.pid);
  while (exited_order_.size() > kExitedKept) {
    exited_.erase(exited_order_.front());
    exited_order_.pop_front();
  }
  return {p, parent};
}

std::optional<Process> ProcessCache::get(uint32_t pid) const {
  std::lock_guard lk(mu_);
  return known_locked(pid);  // live, or exited recently (its last records may still be in flight)
}

size_t ProcessCache::size() const {
  std::lock_guard lk(mu_);
  return live_.size();
}

}  // namespace myelin::runtime
