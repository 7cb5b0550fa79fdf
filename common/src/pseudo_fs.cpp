// SPDX-License-Identifier: Apache-2.0
#include "myelin/pseudo_fs.hpp"

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>

#include <array>
#include <cerrno>

#include "myelin/log.hpp"

namespace myelin::pseudofs {
namespace {

// Ordered as the Fs enum (a static_assert below keeps them so).
constexpr std::array<Spec, 3> kTable{{
    {Fs::bpffs, "bpffs", "bpf", "/sys/fs/bpf", BPF_FS_MAGIC, "mode=0700", "the pod datapath's pinned maps", true},
    {Fs::tracefs, "tracefs", "tracefs", "/sys/kernel/tracing", TRACEFS_MAGIC, "",
     "--network-events (syscall tracepoints), TracingPolicy tracepoints and the lsmhooks fallback", false},
    {Fs::securityfs, "securityfs", "securityfs", "/sys/kernel/security", SECURITYFS_MAGIC, "",
     "the bpf-lsm probe (the active LSMs)", false},
}};
static_assert(kTable[0].fs == Fs::bpffs && kTable[1].fs == Fs::tracefs && kTable[2].fs == Fs::securityfs);

std::string mount_name(const Spec& s) { return "mount " + std::string(s.name) + " on " + std::string(s.where); }

}  // namespace

std::span<const Spec> table() { return kTable; }
const Spec& spec(Fs fs) { return kTable[static_cast<size_t>(fs)]; }

Action decide(const Spec& s, std::optional<uint64_t> f_type) {
  return f_type && *f_type == s.magic ? Action::use : Action::mount;
}

System real_system() {
  System sys;
  sys.fs_type = [](const std::string& path) -> std::optional<uint64_t> {
    struct statfs st {};
    if (::statfs(path.c_str(), &st) != 0) return std::nullopt;
    return static_cast<uint64_t>(st.f_type);
  };
  sys.mount = [](const Spec& s) {
    const std::string type(s.type), where(s.where), options(s.options);
    return ::mount(type.c_str(), where.c_str(), type.c_str(), 0, options.empty() ? nullptr : options.c_str()) == 0 ? 0 : errno;
  };
  return sys;
}

std::string State::detail() const {
  if (!available) return error + "; off: " + std::string(spec->needed_by);
  return std::string(spec->where) + (mounted_now ? ", mounted by the agent" : "") + ": " + std::string(spec->needed_by);
}

Result<Mounts> Mounts::ensure(const System& sys) {
  Mounts m;
  for (const Spec& s : kTable) {
    State st;
    st.spec = &s;
    const std::string where(s.where);
    if (decide(s, sys.fs_type(where)) == Action::use) {
      st.available = true;
    } else if (int err = sys.mount(s); err != 0) {
      st.error = Error::from_errno(mount_name(s), err).message;
    } else if (decide(s, sys.fs_type(where)) != Action::use) {
      st.error = mount_name(s) + ": mounted, but statfs does not see a " + std::string(s.name) + " there";
    } else {
      st.available = st.mounted_now = true;
      log::info("mounts", "mounted " + std::string(s.name) + " on " + where);
    }
    if (!st.available) {
      if (s.required) return Error{st.error + " (needed by " + std::string(s.needed_by) + ")"};
      log::warn("mounts", std::string(s.name) + " unavailable: " + st.detail());
    }
    m.states_.push_back(std::move(st));
  }
  return m;
}

}  // namespace myelin::pseudofs
