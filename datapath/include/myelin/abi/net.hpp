// SPDX-License-Identifier: Apache-2.0
// C++ companion of abi/net.h: the names of its codes, in one place. Names
// flow.proto defines (drop reasons, verdicts, observation points) come from
// the generated descriptor instead (flow::DropReason_Name, ...).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>

#include "myelin/abi/net.h"

namespace myelin::abi {

struct ReservedIdentity {
  uint32_t id;
  const char* name;  // the label is "reserved:<name>"
};
// Cilium's reserved identities, in number order.
inline constexpr ReservedIdentity kReservedIdentities[] = {
    {MYELIN_IDENTITY_HOST, "host"},
    {MYELIN_IDENTITY_WORLD, "world"},
    {MYELIN_IDENTITY_UNMANAGED, "unmanaged"},
    {MYELIN_IDENTITY_HEALTH, "health"},
    {MYELIN_IDENTITY_INIT, "init"},
    {MYELIN_IDENTITY_REMOTE_NODE, "remote-node"},
    {MYELIN_IDENTITY_KUBE_APISERVER, "kube-apiserver"},
};

// "host", "world", ...; "" for an identity that is not reserved.
constexpr const char* reserved_identity_name(uint32_t id) {
  for (const auto& r : kReservedIdentities)
    if (r.id == id) return r.name;
  return "";
}

struct EventTypeName {
  uint8_t type;      // enum myelin_event_type
  const char* name;  // as `hubble observe --type` takes it
};
inline constexpr EventTypeName kEventTypes[] = {
    {MYELIN_EVENT_DROP, "drop"},
    {MYELIN_EVENT_TRACE, "trace"},
    {MYELIN_EVENT_POLICY_VERDICT, "policy-verdict"},
};

// A metrics key's or an event's direction as flow.proto names it
// (INGRESS, EGRESS); "UNKNOWN" for anything else.
constexpr const char* direction_name(uint8_t dir) {
  return dir == MYELIN_DIR_INGRESS ? "INGRESS" : dir == MYELIN_DIR_EGRESS ? "EGRESS" : "UNKNOWN";
}

// A conntrack state as a metric label ("syn_sent", ...).
constexpr const char* ct_state_name(size_t state) {
  constexpr const char* kNames[] = {"none", "syn_sent", "syn_recv", "established", "fin_wait", "closing", "closed", "new"};
  static_assert(std::size(kNames) == MYELIN_CT_STATE_MAX, "a conntrack state without a name");
  return state < std::size(kNames) ? kNames[state] : "unknown";
}

}  // namespace myelin::abi
