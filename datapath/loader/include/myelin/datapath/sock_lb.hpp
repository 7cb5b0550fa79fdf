// SPDX-License-Identifier: Apache-2.0
// SockLb: socket-level Service load balancing (sock_lb.bpf.c) on one cgroup
// v2 directory: connect4, sendmsg4, recvmsg4 and getpeername4 attached with
// bpf_links this object owns (destroying it detaches them: the per-packet
// path on the pods' veths serves meanwhile), over the pod datapath's own
// Services maps (reused by fd, never pinned again from here). Also owns the
// iter/udp program that destroys connected UDP sockets whose backend is gone
// (where the kernel has bpf_sock_destroy, Linux 6.5: without it, or when the
// program does not load, the rest loads without it and says so), and the
// ring of socket translation events.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "myelin/abi/lb.h"
#include "myelin/bpf/link.hpp"
#include "myelin/bpf/ring_buffer.hpp"
#include "myelin/bpf/skeleton.hpp"
#include "myelin/fd.hpp"
#include "myelin/result.hpp"

struct sock_lb;  // the bpftool skeleton

namespace myelin::datapath {

// The cgroup v2 mount of this machine ("/sys/fs/cgroup" on a unified layout,
// "/sys/fs/cgroup/unified" on a hybrid one), from /proc/self/mountinfo.
Result<std::string> cgroup2_mount();

// The kernel has the bpf_sock_destroy kfunc (Linux 6.5): its BTF lists it.
bool kernel_has_sock_destroy();

class SockLb {
 public:
  using Callback = std::function<void(const myelin_sock_xlate_event&)>;
  struct Options {
    std::string cgroup_root;                       // a cgroup v2 directory
    std::function<int(const char* map)> map_fd;    // the pod datapath's maps by name (Datapath::map_fd)
    Callback on_event;
    // Destroy connected UDP sockets of removed backends where the kernel can
    // (probed); false: load as on a kernel that cannot.
    bool udp_destroy = true;
    // Test hook: the kernel refuses the iterator program (as a kernel
    // without the kfunc would), to exercise the fallback on a load failure.
    bool test_break_udp_destroy = false;
  };
  static Result<std::unique_ptr<SockLb>> start(const Options& o);

  int poll(int timeout_ms);  // events handed to on_event, or -errno
  myelin_proc_stats stats() const;
  uint64_t malformed() const { return ring_.malformed(); }
  const std::string& cgroup_root() const { return cgroup_root_; }
  // Connected UDP sockets of removed backends are destroyed here; if not,
  // why (no_udp_destroy()).
  bool udp_destroy() const { return static_cast<bool>(iter_); }
  const std::string& no_udp_destroy() const { return no_udp_destroy_; }

  struct DestroyResult {
    uint64_t netns = 0;      // network namespaces walked
    uint64_t destroyed = 0;  // sockets destroyed
    bool unsupported = false;  // !udp_destroy(): nothing was walked
  };
  // Connected UDP sockets translated to a backend that no longer exists (or
  // whose id names another address now): destroyed, in every network
  // namespace of a process under the cgroup root. Call after the Services
  // maps lost backends. Not thread-safe against itself (one caller).
  Result<DestroyResult> destroy_stale_udp();

 private:
  SockLb() = default;
  bpf::Skeleton<sock_lb> skel_;
  std::vector<bpf::Link> links_;
  bpf::Link iter_;
  bpf::RingBuffer<myelin_sock_xlate_event> ring_;
  std::string cgroup_root_;
  std::string no_udp_destroy_;
};

}  // namespace myelin::datapath
