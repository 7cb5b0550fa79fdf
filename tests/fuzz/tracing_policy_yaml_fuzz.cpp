// SPDX-License-Identifier: Apache-2.0
// TracingPolicy / TracingPolicyNamespaced YAML (manifests, the API server):
// decoded, then every hook compiled to the in-kernel config as the tracing
// manager does, tracepoints against a syscall-like format, and lsmhooks
// through the fallback without BPF-LSM. Invariants: a decode error names the
// file and is UTF-8; a compiled config stays inside the arrays the BPF program reads and
// holds the namespace inode numbers as written.
#include <cstdint>
#include <set>

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

// matchNamespaces values as written, for the check that the config holds them unchanged.
template <typename Hook>
std::set<uint64_t> namespace_values(const Hook& h) {
  std::set<uint64_t> out;
  for (uint8_t t = MYELIN_NS_UTS; t <= MYELIN_NS_USER; ++t) out.insert(4026531830u + t);  // host_ns, as host_ns() below gives it
  for (const auto& s : h.selectors)
    for (const auto& m : s.namespaces)
      for (const auto& v : m.values)
        if (v != "host_ns") out.insert(std::strtoull(v.c_str(), nullptr, 10));
  return out;
}

void check_config(const myelin_hook_config& cfg, const std::string& where, const std::set<uint64_t>& ns_values) {
  FUZZ_CHECK(cfg.nargs <= MYELIN_HOOK_MAX_ARGS, where);
  FUZZ_CHECK(cfg.nselectors <= MYELIN_HOOK_MAX_SELECTORS, where);
  FUZZ_CHECK(cfg.path_arg <= cfg.nargs, where);
  for (uint8_t s = 0; s < cfg.nselectors; ++s) {
    const auto& sel = cfg.selectors[s];
    FUZZ_CHECK(sel.nconds <= MYELIN_HOOK_MAX_CONDS, where);
    FUZZ_CHECK(sel.nbinaries <= MYELIN_HOOK_MAX_BINARIES, where);
    FUZZ_CHECK(sel.npids <= MYELIN_HOOK_MAX_PIDS, where);
    FUZZ_CHECK(sel.nns <= MYELIN_HOOK_MAX_NS, where);
    for (uint8_t n = 0; n < sel.nns; ++n) {
      FUZZ_CHECK(sel.ns[n].nvalues <= MYELIN_HOOK_NS_VALUES, where);
      for (uint8_t k = 0; k < sel.ns[n].nvalues; ++k)
        FUZZ_CHECK(ns_values.count(sel.ns[n].values[k]), where + ": a namespace inode that is not the one written");
    }
    for (uint8_t c = 0; c < sel.nconds; ++c) {
      const auto& cond = sel.conds[c];
      FUZZ_CHECK(cond.arg < cfg.nargs || cond.arg == MYELIN_HOOK_RET_ARG, where + ": a condition on no argument");
      FUZZ_CHECK(cond.str_len < MYELIN_HOOK_STR_MAX, where);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto policies = decode_tracing_yaml(text, "fuzz.yaml");
  if (!policies) {
    FUZZ_CHECK(starts_with(policies.error().message, "fuzz.yaml:"), policies.error().message);
    FUZZ_CHECK(is_utf8(policies.error().message), "a refusal the API cannot carry: " + policies.error().message);
    return 0;
  }
  uint32_t next_binary = 1;
  const BinaryIds binary_id = [&](const std::string&, bool prefix) { return prefix && next_binary > MYELIN_BINARY_PREFIXES ? 0 : next_binary++; };
  const HostNamespaces host_ns = [](uint8_t type) { return 4026531830u + type; };
  const auto format = syscall_format();
  for (const auto& p : *policies) {
    uint32_t hook = 1;
    for (const auto& h : p.tracepoints)
      if (auto cfg = compile_tracepoint(h, format, 1, hook++, binary_id, host_ns)) check_config(*cfg, h.subsystem + "/" + h.event, namespace_values(h));
    for (const auto& h : p.kprobes) {
      (void)h.function([](const std::string& name) { return "__x64_sys_" + name; });
      if (auto cfg = compile_kprobe(h, 1, hook++, binary_id, host_ns)) check_config(*cfg, h.call, namespace_values(h));
    }
    for (const auto& h : p.uprobes)
      if (auto cfg = compile_uprobe(h, 1, hook++, binary_id, host_ns)) check_config(*cfg, h.path, namespace_values(h));
    auto fallback = lsm_fallback(p, [&](const std::string&) -> myelin::Result<std::vector<TpField>> { return format; });
    if (fallback)
      for (const auto& h : *fallback)
        if (auto cfg = compile_tracepoint(h, format, 1, hook++, binary_id, host_ns)) check_config(*cfg, "lsm fallback " + h.event, namespace_values(h));
  }
  return 0;
}
