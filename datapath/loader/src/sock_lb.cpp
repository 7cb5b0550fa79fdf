// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/sock_lb.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "myelin/log.hpp"
#include "sock_lb.skel.h"

namespace myelin::datapath {
namespace {

// The Services maps this object shares with the pod datapath.
constexpr const char* kSharedMaps[] = {MYELIN_MAP_LB_SVC,      MYELIN_MAP_LB_BACKEND,    MYELIN_MAP_LB_REVNAT,
                                       MYELIN_MAP_LB_AFFINITY, MYELIN_MAP_LB_SOCK_REVNAT, MYELIN_MAP_LB_CONFIG,
                                       MYELIN_MAP_LB_MAGLEV};

// One process per network namespace found under `root` (cgroup.procs of
// every cgroup below it), as an open /proc/PID/ns/net.
std::vector<UniqueFd> netns_under(const std::string& root) {
  std::vector<UniqueFd> out;
  std::set<std::pair<dev_t, ino_t>> seen;
  auto visit = [&](const std::filesystem::path& dir) {
    std::ifstream procs(dir / "cgroup.procs");
    std::string pid;
    while (procs >> pid) {
      std::string ns = "/proc/" + pid + "/ns/net";
      struct stat st{};
      if (::stat(ns.c_str(), &st) != 0) continue;  // exited meanwhile
      if (!seen.insert({st.st_dev, st.st_ino}).second) continue;
      int fd = ::open(ns.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) out.emplace_back(fd);
    }
  };
  std::error_code ec;
  visit(root);
  for (auto it = std::filesystem::recursive_directory_iterator(root, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_directory(ec)) visit(it->path());
  return out;
}

// Runs the iterator once in the network namespace `netns` (a thread of its
// own enters it: the iterator walks the sockets of its creator's namespace).
Status run_iter_in(int link_fd, int netns) {
  Status result;
  std::thread t([&] {
    if (::setns(netns, CLONE_NEWNET) != 0) {
      result = Error::from_errno("enter a network namespace");
      return;
    }
    UniqueFd it(bpf_iter_create(link_fd));
    if (!it) {
      result = Error::from_errno("create the UDP socket iterator");
      return;
    }
    char buf[256];
    ssize_t n;
    while ((n = ::read(it.get(), buf, sizeof buf)) > 0) {
    }
    if (n < 0) result = Error::from_errno("run the UDP socket iterator");
  });
  t.join();
  return result;
}

// Opens the object over the pod datapath's maps and loads it, with the
// iter/udp program or without it.
Result<bpf::Skeleton<sock_lb>> open_and_load(const SockLb::Options& o, bool udp_destroy) {
  auto skel = bpf::Skeleton<sock_lb>::open("sock_lb (socket load balancing: cgroup connect4/sendmsg4/recvmsg4/getpeername4)");
  if (!skel) return skel.error();
  for (const char* name : kSharedMaps) {
    bpf_map* m = bpf_object__find_map_by_name((*skel)->obj, name);
    int fd = o.map_fd ? o.map_fd(name) : -1;
    if (!m || fd < 0) return Error{std::string("socket LB: the pod datapath has no map ") + name};
    // The pod datapath's map itself; this object pins nothing.
    if (int err = bpf_map__set_pin_path(m, nullptr); err) return Error::from_errno(std::string("unpin ") + name, -err);
    if (int err = bpf_map__reuse_fd(m, fd); err) return Error::from_errno(std::string("reuse ") + name, -err);
  }
  bpf_program* iter = (*skel)->progs.sock_destroy_udp;
  if (!udp_destroy) {
    if (int err = bpf_program__set_autoload(iter, false); err) return Error::from_errno("leave out the UDP socket iterator", -err);
  } else if (o.test_break_udp_destroy) {
    // A socket filter may neither call the kfunc nor read an iterator's
    // context: the kernel refuses it, as an old kernel refuses the kfunc.
    bpf_program__set_type(iter, BPF_PROG_TYPE_SOCKET_FILTER);
  }
  if (auto s = skel->load(); !s) return s.error();
  return std::move(*skel);
}

}  // namespace

bool kernel_has_sock_destroy() {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return false;
  const bool has = btf__find_by_name_kind(vmlinux, "bpf_sock_destroy", BTF_KIND_FUNC) >= 0;
  btf__free(vmlinux);
  return has;
}

Result<std::string> cgroup2_mount() {
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  // "36 25 0:31 / /sys/fs/cgroup/unified rw,... - cgroup2 cgroup2 rw,..."
  while (std::getline(mi, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, root, mount;
    head >> id >> parent >> devno >> root >> mount;
    if (root == "/") return mount;
  }
  return Error{"no cgroup v2 hierarchy is mounted (looked in /proc/self/mountinfo)"};
}

Result<std::unique_ptr<SockLb>> SockLb::start(const Options& o) {
  struct statfs st{};
  if (::statfs(o.cgroup_root.c_str(), &st) != 0) return Error::from_errno("--cgroup-root " + o.cgroup_root);
  if (st.f_type != CGROUP2_SUPER_MAGIC) return Error{"--cgroup-root " + o.cgroup_root + " is not a cgroup v2 directory"};
  UniqueFd cg(::open(o.cgroup_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cg) return Error::from_errno("open " + o.cgroup_root);

  std::unique_ptr<SockLb> p(new SockLb());
  p->cgroup_root_ = o.cgroup_root;
  // Destroying sockets needs bpf_sock_destroy (Linux 6.5): without it
  // everything else still works; connected UDP sockets of a removed backend
  // stay pinned to it until their owner reconnects (said, never silent).
  bool udp_destroy = o.udp_destroy && kernel_has_sock_destroy();
  if (!o.udp_destroy)
    p->no_udp_destroy_ = "turned off";
  else if (!udp_destroy)
    p->no_udp_destroy_ = "the kernel has no bpf_sock_destroy (Linux 6.5)";
  auto skel = open_and_load(o, udp_destroy);
  if (!skel && udp_destroy) {
    // The probe said yes, the kernel said no: load the rest without it.
    p->no_udp_destroy_ = "the UDP socket iterator does not load: " + skel.error().message;
    log::warn("socket-lb", p->no_udp_destroy_ + "; loading socket LB without it");
    udp_destroy = false;
    skel = open_and_load(o, false);
  }
  if (!skel) return skel.error();
  p->skel_ = std::move(*skel);

  bpf_program* progs[] = {p->skel_->progs.sock4_connect, p->skel_->progs.sock4_sendmsg, p->skel_->progs.sock4_recvmsg,
                          p->skel_->progs.sock4_getpeername};
  for (bpf_program* prog : progs) {
    auto link = bpf::Link::attach(std::string("attach ") + bpf_program__name(prog) + " to " + o.cgroup_root,
                                  [&] { return bpf_program__attach_cgroup(prog, cg.get()); });
    if (!link) return link.error();
    p->links_.push_back(std::move(*link));
  }
  if (udp_destroy) {
    auto iter = bpf::Link::attach("attach the UDP socket iterator",
                                  [&] { return bpf_program__attach_iter(p->skel_->progs.sock_destroy_udp, nullptr); });
    if (!iter) return iter.error();
    p->iter_ = std::move(*iter);
  }

  auto ring = bpf::RingBuffer<myelin_sock_xlate_event>::open(bpf_map__fd(p->skel_->maps.myelin_sklb_events), o.on_event,
                                                             "socket translations");
  if (!ring) return ring.error();
  p->ring_ = std::move(*ring);
  return p;
}

int SockLb::poll(int timeout_ms) { return ring_.poll(timeout_ms); }

myelin_proc_stats SockLb::stats() const {
  const int n = libbpf_num_possible_cpus();
  std::vector<myelin_proc_stats> percpu(n > 0 ? static_cast<size_t>(n) : 1);
  myelin_proc_stats sum{};
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.myelin_sklb_stats), &zero, percpu.data()) != 0) return sum;
  for (const auto& s : percpu) {
    sum.events_sent += s.events_sent;
    sum.events_lost += s.events_lost;
  }
  return sum;
}

Result<SockLb::DestroyResult> SockLb::destroy_stale_udp() {
  DestroyResult r;
  if (!iter_) {
    r.unsupported = true;
    return r;
  }
  skel_->bss->destroyed = 0;
  for (const auto& ns : netns_under(cgroup_root_)) {
    if (auto s = run_iter_in(bpf_link__fd(iter_.get()), ns.get()); !s) return s.error();
    ++r.netns;
  }
  r.destroyed = __atomic_load_n(&skel_->bss->destroyed, __ATOMIC_RELAXED);
  return r;
}

}  // namespace myelin::datapath
