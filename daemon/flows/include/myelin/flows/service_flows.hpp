// SPDX-License-Identifier: Apache-2.0
// What a decoded flow says about Services, for the metrics of translations
// and of connections refused for want of a backend. Pure: it reads the flow
// only, so the packet path's flows and the socket path's (Type SOCK) are
// counted by the same rules, and labels stay bounded (a path and a protocol,
// never a Service name or an address).
#pragma once

#include <optional>

#include "flow.pb.h"

namespace myelin::flows {

struct ServiceFlowCount {
  enum class Outcome { translated, no_backend } outcome;
  const char* path;      // "packet" (a pod's veth, a node device) or "socket" (connect/sendmsg)
  const char* protocol;  // "TCP", "UDP", "SCTP", "other"
};

// A translation: the first packet of a connection translated to a backend
// (a trace of reason NEW, not a reply, naming its destination_service), or
// the socket path's post-translation event (Type SOCK, TRANSLATED,
// SOCK_XLATE_POINT_POST_DIRECTION_FWD). A refusal: a drop of reason
// SERVICE_BACKEND_NOT_FOUND. Anything else: nullopt.
std::optional<ServiceFlowCount> service_flow_count(const flow::Flow& f);

inline const char* outcome_name(ServiceFlowCount::Outcome o) {
  return o == ServiceFlowCount::Outcome::translated ? "translated" : "no_backend";
}

}  // namespace myelin::flows
