// SPDX-License-Identifier: Apache-2.0
// C++ companion of abi/tracing.h: the TracingPolicy names of its codes, in
// one place (the YAML's for what the decoder reads, Tetragon's for what
// events print).
#pragma once

#include <cstdint>
#include <string_view>

#include "myelin/abi/tracing.h"

namespace myelin::abi {

// The action an event reports, as Tetragon names it.
constexpr const char* action_name(uint8_t action) {
  switch (action) {
    case MYELIN_HOOK_ACT_SIGKILL: return "KPROBE_ACTION_SIGKILL";
    case MYELIN_HOOK_ACT_SIGNAL: return "KPROBE_ACTION_SIGNAL";
    case MYELIN_HOOK_ACT_NOPOST: return "KPROBE_ACTION_NOPOST";
    case MYELIN_HOOK_ACT_OVERRIDE: return "KPROBE_ACTION_OVERRIDE";
    case MYELIN_HOOK_ACT_TRACKSOCK: return "KPROBE_ACTION_TRACKSOCK";
    case MYELIN_HOOK_ACT_UNTRACKSOCK: return "KPROBE_ACTION_UNTRACKSOCK";
    default: return "KPROBE_ACTION_POST";
  }
}

struct NamespaceName {
  uint8_t type;      // enum myelin_hook_ns_type
  const char* yaml;  // matchNamespaces' name (Tetragon's)
  const char* proc;  // its file under /proc/<pid>/ns/
};
inline constexpr NamespaceName kNamespaces[] = {
    {MYELIN_NS_UTS, "Uts", "uts"},
    {MYELIN_NS_IPC, "Ipc", "ipc"},
    {MYELIN_NS_MNT, "Mnt", "mnt"},
    {MYELIN_NS_PID, "Pid", "pid"},
    {MYELIN_NS_PID_FOR_CHILDREN, "PidForChildren", "pid_for_children"},
    {MYELIN_NS_NET, "Net", "net"},
    {MYELIN_NS_TIME, "Time", "time"},
    {MYELIN_NS_TIME_FOR_CHILDREN, "TimeForChildren", "time_for_children"},
    {MYELIN_NS_CGROUP, "Cgroup", "cgroup"},
    {MYELIN_NS_USER, "User", "user"},
};

// A matchNamespaces name's type; 0 if it names none.
constexpr uint8_t namespace_type(std::string_view yaml) {
  for (const auto& n : kNamespaces)
    if (yaml == n.yaml) return n.type;
  return 0;
}

// A namespace type's matchNamespaces name; "" if none.
constexpr const char* namespace_yaml_name(uint8_t type) {
  for (const auto& n : kNamespaces)
    if (n.type == type) return n.yaml;
  return "";
}

// The /proc/<pid>/ns/ file of a namespace type; nullptr if none.
constexpr const char* namespace_proc_name(uint8_t type) {
  for (const auto& n : kNamespaces)
    if (n.type == type) return n.proc;
  return nullptr;
}

}  // namespace myelin::abi
