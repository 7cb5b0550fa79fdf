// SPDX-License-Identifier: Apache-2.0
// TracingPolicy / TracingPolicyNamespaced YAML (manifests, the API server):
// decoded, then every hook compiled to the in-kernel config as the tracing
// manager does, tracepoints against a syscall-like format, and lsmhooks
// through the fallback without BPF-LSM. Invariants: a decode error names the
// file; a compiled config stays inside the arrays the BPF program reads.
#include <cstdint>

#include "fuzz_check.hpp"
#include "tracing_policy.hpp"

using namespace myelin::tracing;

namespace {

// The shape of syscalls/sys_enter_openat and its kin: common fields, then
// 8-byte slots (fd, pointers, a length, flags).
std::vector<TpField> syscall_format() {
  return {{"unsigned short common_type", "common_type", 0, 2, false},
          {"unsigned char common_flags", "common_flags", 2, 1, false},
          {"unsigned char common_preempt_count", "common_preempt_count", 3, 1, false},
          {"int common_pid", "common_pid", 4, 4, true},
          {"int __syscall_nr", "__syscall_nr", 8, 4, true},
          {"int dfd", "dfd", 16, 8, false},
          {"const char * filename", "filename", 24, 8, false},
          {"const char * pathname", "pathname", 32, 8, false},
          {"const char * oldname", "oldname", 40, 8, false},
          {"size_t count", "count", 48, 8, false},
          {"char comm[16]", "comm", 56, 16, false}};
}

void check_config(const myelin_tp_config& cfg, const std::string& where) {
  FUZZ_CHECK(cfg.nargs <= MYELIN_TP_MAX_ARGS, where);
  FUZZ_CHECK(cfg.nselectors <= MYELIN_TP_MAX_SELECTORS, where);
  FUZZ_CHECK(cfg.path_arg <= cfg.nargs, where);
  for (uint8_t s = 0; s < cfg.nselectors; ++s) {
    const auto& sel = cfg.selectors[s];
    FUZZ_CHECK(sel.nconds <= MYELIN_TP_MAX_CONDS, where);
    FUZZ_CHECK(sel.nbinaries <= MYELIN_TP_MAX_BINARIES, where);
    FUZZ_CHECK(sel.npids <= MYELIN_TP_MAX_PIDS, where);
    FUZZ_CHECK(sel.nns <= MYELIN_TP_MAX_NS, where);
    for (uint8_t n = 0; n < sel.nns; ++n) FUZZ_CHECK(sel.ns[n].nvalues <= MYELIN_TP_NS_VALUES, where);
    for (uint8_t c = 0; c < sel.nconds; ++c) {
      const auto& cond = sel.conds[c];
      FUZZ_CHECK(cond.arg < cfg.nargs || cond.arg == MYELIN_TP_RET_ARG, where + ": a condition on no argument");
      FUZZ_CHECK(cond.str_len < MYELIN_TP_STR_MAX, where);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto policies = decode_tracing_yaml(text, "fuzz.yaml");
  if (!policies) {
    FUZZ_CHECK(starts_with(policies.error().message, "fuzz.yaml:"), policies.error().message);
    return 0;
  }
  uint32_t next_binary = 1;
  const BinaryIds binary_id = [&](const std::string&, bool prefix) { return prefix && next_binary > MYELIN_BINARY_PREFIXES ? 0 : next_binary++; };
  const HostNamespaces host_ns = [](uint8_t type) { return 4026531830u + type; };
  const auto format = syscall_format();
  for (const auto& p : *policies) {
    uint32_t hook = 1;
    for (const auto& h : p.tracepoints)
      if (auto cfg = compile_hook(h, format, 1, hook++, binary_id, host_ns)) check_config(*cfg, h.subsystem + "/" + h.event);
    for (const auto& h : p.kprobes) {
      (void)h.function([](const std::string& name) { return "__x64_sys_" + name; });
      if (auto cfg = compile_kprobe(h, 1, hook++, binary_id, host_ns)) check_config(*cfg, h.call);
    }
    for (const auto& h : p.uprobes)
      if (auto cfg = compile_uprobe(h, 1, hook++, binary_id, host_ns)) check_config(*cfg, h.path);
    auto fallback = lsm_fallback(p, [&](const std::string&) -> myelin::Result<std::vector<TpField>> { return format; });
    if (fallback)
      for (const auto& h : *fallback)
        if (auto cfg = compile_hook(h, format, 1, hook++, binary_id, host_ns)) check_config(*cfg, "lsm fallback " + h.event);
  }
  return 0;
}
