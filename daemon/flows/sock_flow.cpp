// SPDX-License-Identifier: Apache-2.0
// Socket translations into Hubble's trace-sock flows, as Hubble's sock
// parser writes them: the process's pod is the source (its port unknown: 0),
// the address after translation the destination; at a reverse point
// (recvmsg: backend -> frontend) both sides swap. Verdict TRANSLATED (every
// translation sock_lb.bpf.c reports is after it), event type
// {MessageTypeTraceSock = 7, sub type = the point}. A refusal (a frontend
// without backends: ECONNREFUSED) is verdict DROPPED with its drop reason,
// addressed to the frontend it asked for, like the per-packet path's drop.
// The Service is named from rev_nat_index through the FrontendIndex (the
// destination going out, the source coming back).
#include <google/protobuf/util/time_util.h>
#include <arpa/inet.h>

#include "myelin/flows/flow_decoder.hpp"

namespace myelin::flows {
namespace {

std::string ipv4(uint32_t be) {
  char b[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &be, b, sizeof b);
  return b;
}

bool reverse_point(uint8_t p) {
  return p == MYELIN_SOCK_XLATE_POINT_PRE_DIRECTION_REV || p == MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_REV;
}

}  // namespace

flow::Flow FlowDecoder::decode(const myelin_sock_xlate_event& ev, uint32_t pod_ep_id) const {
  const std::shared_ptr<const FlowView> view = views_ ? views_() : nullptr;
  flow::Flow f;
  *f.mutable_time() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(static_cast<int64_t>(ev.ts_ns) + mono_to_wall_ns_);
  f.set_node_name(node_name_);
  f.set_type(flow::SOCK);
  if (ev.drop_reason) {
    f.set_verdict(flow::DROPPED);
    f.set_drop_reason(ev.drop_reason);
    f.set_drop_reason_desc(flow::DropReason_IsValid(ev.drop_reason) ? static_cast<flow::DropReason>(ev.drop_reason)
                                                                     : flow::DROP_REASON_UNKNOWN);
  } else {
    f.set_verdict(ev.xlate_point == MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_FWD ||
                          ev.xlate_point == MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_REV
                      ? flow::TRANSLATED
                      : flow::TRACED);
  }
  f.mutable_event_type()->set_type(MYELIN_EVENT_TRACE_SOCK);
  f.mutable_event_type()->set_sub_type(ev.xlate_point);
  if (flow::SocketTranslationPoint_IsValid(ev.xlate_point))
    f.set_sock_xlate_point(static_cast<flow::SocketTranslationPoint>(ev.xlate_point));
  f.set_socket_cookie(ev.cookie);
  f.set_cgroup_id(ev.cgroup_id);

  const bool rev = reverse_point(ev.xlate_point);
  const std::string peer = ev.family == MYELIN_FAMILY_IPV4 ? ipv4(ev.xlate_addr.w[0]) : "";
  const uint32_t peer_port = ntohs(ev.xlate_port);
  auto* ip = f.mutable_ip();
  ip->set_ipversion(ev.family == MYELIN_FAMILY_IPV4 ? flow::IPv4 : flow::IP_NOT_USED);
  (rev ? ip->mutable_source() : ip->mutable_destination())->assign(peer);
  const uint32_t sport = rev ? peer_port : 0, dport = rev ? 0 : peer_port;
  if (ev.proto == 6) {
    f.mutable_l4()->mutable_tcp()->set_source_port(sport);
    f.mutable_l4()->mutable_tcp()->set_destination_port(dport);
    f.set_summary("TCP");
  } else if (ev.proto == 17) {
    f.mutable_l4()->mutable_udp()->set_source_port(sport);
    f.mutable_l4()->mutable_udp()->set_destination_port(dport);
    f.set_summary("UDP");
  } else {
    f.set_summary("Unknown");
  }
  if (frontends_ && ev.rev_nat_index) {
    const std::shared_ptr<const services::FrontendIndex> index = frontends_();
    fill_services(index.get(), rev ? 0 : ev.rev_nat_index, rev ? ev.rev_nat_index : 0, f);
  }
  if (pod_ep_id) fill_endpoint(view.get(), rev ? f.mutable_destination() : f.mutable_source(), pod_ep_id, 0, myelin_addr{}, MYELIN_FAMILY_NONE);
  f.set_uuid(uuid_v4());
  return f;
}

}  // namespace myelin::flows
