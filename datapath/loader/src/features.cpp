// SPDX-License-Identifier: Apache-2.0
// One probe of the running kernel at start; the agent prints the report and
// `myelin status` shows it, so what the datapath can do here is never a guess.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "myelin/datapath/datapath.hpp"
#include "myelin/datapath/sock_lb.hpp"
#include "myelin/fd.hpp"

namespace myelin::datapath {
namespace {

bool prog_type(bpf_prog_type t) { return libbpf_probe_bpf_prog_type(t, nullptr) == 1; }
bool map_type(bpf_map_type t) { return libbpf_probe_bpf_map_type(t, nullptr) == 1; }
bool helper(bpf_prog_type t, bpf_func_id h) { return libbpf_probe_bpf_helper(t, h, nullptr) == 1; }

std::string active_lsms(const std::string& securityfs) {
  std::ifstream f(securityfs + "/lsm");
  std::string s;
  std::getline(f, s);
  return s;
}

// Loads `return 0` as a tracing program of `type` on `func` and attaches it
// for a moment: the only honest test of trampolines (fentry) and of return
// overrides (fmod_ret) on this kernel.
bool tracing_attach(bpf_attach_type type, const std::string& func, std::string* why) {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return *why = "no kernel BTF", false;
  int id = btf__find_by_name_kind(vmlinux, func.c_str(), BTF_KIND_FUNC);
  btf__free(vmlinux);
  if (id < 0) return *why = func + " is not in the kernel's BTF", false;
  bpf_insn insns[2] = {};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0
  insns[1].code = BPF_JMP | BPF_EXIT;
  char log[4096] = {};
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = type, .attach_btf_id = static_cast<__u32>(id), .log_level = 1,
              .log_size = sizeof log, .log_buf = log);
  UniqueFd fd(bpf_prog_load(BPF_PROG_TYPE_TRACING, "myelin_probe", "GPL", insns, 2, &opts));
  if (!fd) {
    *why = std::string("a tracing program does not load on ") + func + ": " + std::strerror(errno);
    // The verifier's reason: its last line that is not the instruction count.
    std::istringstream lines(log);
    std::string line, reason;
    while (std::getline(lines, line))
      if (!line.empty() && line.rfind("processed ", 0) != 0) reason = line;
    if (!reason.empty()) *why += " (" + reason + ")";
    return false;
  }
  UniqueFd link(bpf_link_create(fd.get(), 0, type, nullptr));
  if (!link) return *why = std::string("it does not attach: ") + std::strerror(errno), false;
  return true;
}

}  // namespace

// The kernel's wrapper name of a syscall's entry on this architecture.
std::string kernel_syscall_function(const std::string& name) {
  utsname u{};
  uname(&u);
  const std::string m = u.machine;
  return (m == "aarch64" ? "__arm64_sys_" : m == "x86_64" ? "__x64_sys_" : "sys_") + name;
}

bool has_redirect_peer() { return helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_redirect_peer); }

std::vector<Feature> probe_features(const pseudofs::Mounts& mounts) {
  std::vector<Feature> out;
  utsname u{};
  uname(&u);
  out.push_back({"kernel", true, std::string(u.release)});
  for (const auto& m : mounts.states()) out.push_back({std::string(m.spec->name), m.available, m.detail()});
  out.push_back({"tc-bpf", prog_type(BPF_PROG_TYPE_SCHED_CLS), "pod veth programs (required)"});
  out.push_back({"ringbuf", map_type(BPF_MAP_TYPE_RINGBUF), "flow events (required)"});
  out.push_back({"lru-hash", map_type(BPF_MAP_TYPE_LRU_HASH), "conntrack (required)"});
  bool peer = has_redirect_peer();
  out.push_back({"redirect-peer", peer, peer ? "local delivery skips the host veth" : "falling back to bpf_redirect"});
  out.push_back({"lpm-trie", map_type(BPF_MAP_TYPE_LPM_TRIE), "ipcache"});
  out.push_back({"xdp", prog_type(BPF_PROG_TYPE_XDP), ""});
  out.push_back({"cgroup-sock-addr", prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR), ""});
  const bool sock_destroy = kernel_has_sock_destroy();
  out.push_back({"sock-destroy", sock_destroy,
                 sock_destroy ? "socket LB destroys connected UDP sockets of removed backends"
                              : "no bpf_sock_destroy (Linux 6.5): connected UDP sockets of removed backends stay until their owner reconnects"});
  out.push_back({"tracepoint", prog_type(BPF_PROG_TYPE_TRACEPOINT), ""});
  const auto& securityfs = mounts[pseudofs::Fs::securityfs];
  std::string lsms = securityfs.available ? active_lsms(securityfs.path()) : "";
  const bool listed = lsms.find("bpf") != std::string::npos, loads = prog_type(BPF_PROG_TYPE_LSM);
  std::string why = !securityfs.available ? "the active LSMs cannot be read: " + securityfs.error
                    : lsms.empty()        ? "no LSM list in securityfs"
                    : !listed   ? "bpf is not among the active LSMs (" + lsms + "): boot with lsm=...,bpf"
                    : !loads    ? "LSM programs do not load here (kernel built without BPF LSM support)"
                                : "active LSMs: " + lsms;
  out.push_back({"bpf-lsm", listed && loads, why});
  bool kprobes = ::access("/sys/bus/event_source/devices/kprobe/type", R_OK) == 0;
  out.push_back({"kprobe", kprobes, kprobes ? "" : "no kprobe PMU: kernel built without kprobes"});
  // A syscall entry the kernel's BTF lists (some are folded away); the
  // probe programs return 0, so even the fmod_ret ones change nothing.
  std::string syscall_fn = kernel_syscall_function("write");
  if (btf* vmlinux = btf__load_vmlinux_btf()) {
    for (const char* name : {"getppid", "getpid", "write"})
      if (btf__find_by_name_kind(vmlinux, kernel_syscall_function(name).c_str(), BTF_KIND_FUNC) >= 0) {
        syscall_fn = kernel_syscall_function(name);
        break;
      }
    btf__free(vmlinux);
  }
  std::string no_fentry, no_fmod_ret, no_syscall_override;
  bool fentry = tracing_attach(BPF_TRACE_FENTRY, syscall_fn, &no_fentry);
  out.push_back({"fentry", fentry, fentry ? "TracingPolicy kprobes attach as fentry" : no_fentry});
  // The kernel lets fmod_ret change the return of security_* functions, and
  // of others only when they are on the error-injection list
  // (CONFIG_FUNCTION_ERROR_INJECTION), which is where syscalls are.
  bool fmod_ret = tracing_attach(BPF_MODIFY_RETURN, "security_file_permission", &no_fmod_ret);
  out.push_back({"fmod_ret", fmod_ret, fmod_ret ? "Override on security_* kprobes: the function returns the errno without running" : no_fmod_ret});
  bool syscall_override = tracing_attach(BPF_MODIFY_RETURN, syscall_fn, &no_syscall_override);
  out.push_back({"fmod_ret-syscalls", syscall_override,
                 syscall_override ? "Override on syscall kprobes: the syscall returns the errno without running"
                                  : no_syscall_override + "; kernels without CONFIG_FUNCTION_ERROR_INJECTION refuse it"});
  return out;
}

}  // namespace myelin::datapath
