// SPDX-License-Identifier: Apache-2.0
#include "myelin/flows/service_flows.hpp"

#include "myelin/abi/net.h"

namespace myelin::flows {
namespace {

const char* protocol_label(const flow::Flow& f) {
  switch (f.l4().protocol_case()) {
    case flow::Layer4::kTCP: return "TCP";
    case flow::Layer4::kUDP: return "UDP";
    case flow::Layer4::kSCTP: return "SCTP";
    default: return "other";
  }
}

// Hubble's sock_xlate_point (Flow field 31) belongs to the socket path's
// flows; read by number, so this needs no part of that change to build.
constexpr int kSockXlatePointField = 31;
constexpr int kSockXlatePostFwd = 2;  // SOCK_XLATE_POINT_POST_DIRECTION_FWD

int sock_xlate_point(const flow::Flow& f) {
  const auto* fd = flow::Flow::descriptor()->FindFieldByNumber(kSockXlatePointField);
  if (!fd || fd->type() != google::protobuf::FieldDescriptor::TYPE_ENUM) return 0;
  return f.GetReflection()->GetEnumValue(f, fd);
}

}  // namespace

std::optional<ServiceFlowCount> service_flow_count(const flow::Flow& f) {
  const char* path = f.type() == flow::SOCK ? "socket" : "packet";
  if (f.verdict() == flow::DROPPED) {
    if (f.drop_reason_desc() != flow::SERVICE_BACKEND_NOT_FOUND) return std::nullopt;
    return ServiceFlowCount{ServiceFlowCount::Outcome::no_backend, path, protocol_label(f)};
  }
  if (!f.has_destination_service() || f.destination_service().name().empty()) return std::nullopt;
  if (f.type() == flow::SOCK) {
    if (f.verdict() != flow::TRANSLATED || sock_xlate_point(f) != kSockXlatePostFwd) return std::nullopt;
    return ServiceFlowCount{ServiceFlowCount::Outcome::translated, path, protocol_label(f)};
  }
  // One count per connection: its first packet, at the point that translated it.
  const bool reply = f.has_is_reply() && f.is_reply().value();
  if (f.event_type().type() != MYELIN_EVENT_TRACE || f.verdict() != flow::FORWARDED || f.trace_reason() != flow::NEW ||
      reply)
    return std::nullopt;
  return ServiceFlowCount{ServiceFlowCount::Outcome::translated, path, protocol_label(f)};
}

}  // namespace myelin::flows
