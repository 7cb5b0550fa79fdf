// SPDX-License-Identifier: Apache-2.0
// One probe of the running kernel at start; the agent prints the report and
// `myelin status` shows it, so what the datapath can do here is never a guess.
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>

#include "myelin/datapath/datapath.hpp"

namespace myelin::datapath {
namespace {

bool prog_type(bpf_prog_type t) { return libbpf_probe_bpf_prog_type(t, nullptr) == 1; }
bool map_type(bpf_map_type t) { return libbpf_probe_bpf_map_type(t, nullptr) == 1; }
bool helper(bpf_prog_type t, bpf_func_id h) { return libbpf_probe_bpf_helper(t, h, nullptr) == 1; }

std::string active_lsms() {
  // securityfs is unmounted on a fresh machine; mount it to read the truth.
  if (::access("/sys/kernel/security/lsm", R_OK) != 0)
    (void)::mount("securityfs", "/sys/kernel/security", "securityfs", 0, nullptr);
  std::ifstream f("/sys/kernel/security/lsm");
  std::string s;
  std::getline(f, s);
  return s;
}

}  // namespace

bool has_redirect_peer() { return helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_redirect_peer); }

std::vector<Feature> probe_features() {
  std::vector<Feature> out;
  utsname u{};
  uname(&u);
  out.push_back({"kernel", true, std::string(u.release)});
  out.push_back({"tc-bpf", prog_type(BPF_PROG_TYPE_SCHED_CLS), "pod veth programs (required)"});
  out.push_back({"ringbuf", map_type(BPF_MAP_TYPE_RINGBUF), "flow events (required)"});
  out.push_back({"lru-hash", map_type(BPF_MAP_TYPE_LRU_HASH), "conntrack (required)"});
  bool peer = has_redirect_peer();
  out.push_back({"redirect-peer", peer, peer ? "local delivery skips the host veth" : "falling back to bpf_redirect"});
  out.push_back({"lpm-trie", map_type(BPF_MAP_TYPE_LPM_TRIE), "ipcache"});
  out.push_back({"xdp", prog_type(BPF_PROG_TYPE_XDP), ""});
  out.push_back({"cgroup-sock-addr", prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR), ""});
  out.push_back({"tracepoint", prog_type(BPF_PROG_TYPE_TRACEPOINT), ""});
  std::string lsms = active_lsms();
  const bool listed = lsms.find("bpf") != std::string::npos, loads = prog_type(BPF_PROG_TYPE_LSM);
  std::string why = lsms.empty() ? "no LSM list in securityfs"
                    : !listed   ? "bpf is not among the active LSMs (" + lsms + "): boot with lsm=...,bpf"
                    : !loads    ? "LSM programs do not load here (kernel built without BPF LSM support)"
                                : "active LSMs: " + lsms;
  out.push_back({"bpf-lsm", listed && loads, why});
  bool kprobes = ::access("/sys/bus/event_source/devices/kprobe/type", R_OK) == 0;
  out.push_back({"kprobe", kprobes, kprobes ? "" : "no kprobe PMU: kernel built without kprobes"});
  return out;
}

}  // namespace myelin::datapath
