// SPDX-License-Identifier: Apache-2.0
#include "myelin/flows/flow_decoder.hpp"

#include <google/protobuf/util/time_util.h>
#include <arpa/inet.h>
#include <time.h>

#include <cstdio>
#include <random>

#include "myelin/abi/net.hpp"
#include "myelin/net.hpp"

namespace myelin::flows {
namespace {

int64_t now_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

std::string uuid_v4() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffull) | 0x0000000000004000ull;  // version 4
  b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull;  // RFC 4122 variant
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffull));
  return buf;
}

namespace {

const char* icmp_name(uint32_t type) {
  switch (type) {
    case 0: return "EchoReply";
    case 3: return "DestinationUnreachable";
    case 5: return "Redirect";
    case 8: return "EchoRequest";
    case 11: return "TimeExceeded";
    default: return nullptr;
  }
}

void set_service(const services::FrontendIndex& index, uint16_t rev_nat_index, flow::Service* (flow::Flow::*field)(),
                 flow::Flow& f) {
  if (rev_nat_index == 0) return;
  auto it = index.find(rev_nat_index);
  if (it == index.end()) return;
  flow::Service* s = (f.*field)();
  s->set_namespace_(it->second.ns);
  s->set_name(it->second.name);
}

}  // namespace

void fill_services(const services::FrontendIndex* index, uint16_t dst_service, uint16_t src_service, flow::Flow& f) {
  if (!index) return;
  set_service(*index, dst_service, &flow::Flow::mutable_destination_service, f);
  set_service(*index, src_service, &flow::Flow::mutable_source_service, f);
}

FlowDecoder::FlowDecoder(std::string node_name, ViewSource views, IfnameLookup ifnames)
    : node_name_(std::move(node_name)),
      views_(std::move(views)),
      ifnames_(std::move(ifnames)),
      mono_to_wall_ns_(now_ns(CLOCK_REALTIME) - now_ns(CLOCK_MONOTONIC)) {}

void FlowDecoder::fill_endpoint(const FlowView* view, flow::Endpoint* out, uint32_t ep_id, uint32_t identity,
                                const myelin_addr& addr, uint8_t family) const {
  out->set_identity(identity);
  if (ep_id == 0) {
    // Reserved identities carry their label, as in Hubble's flows.
    if (const std::string name = abi::reserved_identity_name(identity); !name.empty()) {
      out->add_labels("reserved:" + name);
      return;
    }
    // A pod of another node: its name, and its labels when the datapath
    // judged it by the identity the cluster gives it.
    const EndpointView* r = view && family == MYELIN_FAMILY_IPV4 ? view->remote(addr.w[0]) : nullptr;
    if (!r) return;
    out->set_namespace_(r->ns);
    out->set_pod_name(r->pod_name);
    if (identity == 0) out->set_identity(r->identity);
    if (identity == 0 || identity == r->identity)
      for (const auto& l : r->labels) out->add_labels(l);
    return;
  }
  const EndpointView* ep = view ? view->endpoint(ep_id) : nullptr;
  if (!ep) {
    out->set_id(ep_id);
    return;
  }
  out->set_id(ep->id);
  out->set_identity(ep->identity ? ep->identity : identity);
  out->set_namespace_(ep->ns);
  out->set_pod_name(ep->pod_name);
  for (const auto& l : ep->labels) out->add_labels(l);
  for (const auto& [kind, name] : ep->workloads) {
    auto* w = out->add_workloads();
    w->set_kind(kind);
    w->set_name(name);
  }
}

flow::Flow FlowDecoder::decode(const myelin_flow_event& ev) const {
  const std::shared_ptr<const FlowView> view = views_ ? views_() : nullptr;  // one view for the whole flow
  flow::Flow f;
  *f.mutable_time() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(static_cast<int64_t>(ev.ts_ns) + mono_to_wall_ns_);
  f.set_uuid(uuid_v4());
  f.set_verdict(static_cast<flow::Verdict>(ev.verdict));
  if (ev.verdict == MYELIN_VERDICT_DROPPED) {
    f.set_drop_reason(ev.drop_reason);
    f.set_drop_reason_desc(flow::DropReason_IsValid(ev.drop_reason) ? static_cast<flow::DropReason>(ev.drop_reason)
                                                                     : flow::DROP_REASON_UNKNOWN);
  }
  f.mutable_ethernet()->set_source(net::mac_str(ev.eth_src));
  f.mutable_ethernet()->set_destination(net::mac_str(ev.eth_dst));
  if (ev.family == MYELIN_FAMILY_IPV4 || ev.family == MYELIN_FAMILY_IPV6) {
    f.mutable_ip()->set_source(net::addr_str(ev.saddr, ev.family));
    f.mutable_ip()->set_destination(net::addr_str(ev.daddr, ev.family));
    f.mutable_ip()->set_ipversion(ev.family == MYELIN_FAMILY_IPV4 ? flow::IPv4 : flow::IPv6);
    const uint32_t sport = ntohs(ev.sport), dport = ntohs(ev.dport);
    switch (ev.proto) {
      case 6: {
        auto* tcp = f.mutable_l4()->mutable_tcp();
        tcp->set_source_port(sport);
        tcp->set_destination_port(dport);
        auto* fl = tcp->mutable_flags();
        fl->set_fin(ev.tcp_flags & MYELIN_TCP_FIN);
        fl->set_syn(ev.tcp_flags & MYELIN_TCP_SYN);
        fl->set_rst(ev.tcp_flags & MYELIN_TCP_RST);
        fl->set_psh(ev.tcp_flags & MYELIN_TCP_PSH);
        fl->set_ack(ev.tcp_flags & MYELIN_TCP_ACK);
        fl->set_urg(ev.tcp_flags & MYELIN_TCP_URG);
        fl->set_ece(ev.tcp_flags & MYELIN_TCP_ECE);
        fl->set_cwr(ev.tcp_flags & MYELIN_TCP_CWR);
        break;
      }
      case 17:
        f.mutable_l4()->mutable_udp()->set_source_port(sport);
        f.mutable_l4()->mutable_udp()->set_destination_port(dport);
        break;
      case 132:
        f.mutable_l4()->mutable_sctp()->set_source_port(sport);
        f.mutable_l4()->mutable_sctp()->set_destination_port(dport);
        break;
      case 1:
        f.mutable_l4()->mutable_icmpv4()->set_type(ev.icmp_type);
        f.mutable_l4()->mutable_icmpv4()->set_code(ev.icmp_code);
        break;
      default: break;
    }
  }
  fill_endpoint(view.get(), f.mutable_source(), ev.src_ep, ev.src_identity, ev.saddr, ev.family);
  fill_endpoint(view.get(), f.mutable_destination(), ev.dst_ep, ev.dst_identity, ev.daddr, ev.family);
  if (frontends_ && (ev.dst_service || ev.src_service)) {
    const std::shared_ptr<const services::FrontendIndex> index = frontends_();
    fill_services(index.get(), ev.dst_service, ev.src_service, f);
  }
  if (ev.tunnel_peer) {
    // Into the tunnel (TO_OVERLAY): this node -> the peer; out of it: the other way.
    auto* t = f.mutable_tunnel();
    t->set_protocol(flow::Tunnel::VXLAN);
    const bool out = ev.obs_point == MYELIN_OBS_TO_OVERLAY;
    const std::string peer = net::addr_str(myelin_addr{{ev.tunnel_peer, 0, 0, 0}}, MYELIN_FAMILY_IPV4);
    const std::string self = node_ip_ ? net::addr_str(myelin_addr{{node_ip_, 0, 0, 0}}, MYELIN_FAMILY_IPV4) : "";
    t->mutable_ip()->set_source(out ? self : peer);
    t->mutable_ip()->set_destination(out ? peer : self);
    t->mutable_ip()->set_ipversion(flow::IPv4);
    // The node's own packets go out as remote-node (host is refused on the way in).
    t->set_vni(out && ev.src_identity == MYELIN_IDENTITY_HOST ? MYELIN_IDENTITY_REMOTE_NODE : ev.src_identity);
  }
  f.set_type(flow::L3_L4);
  f.set_node_name(node_name_);
  f.mutable_event_type()->set_type(ev.type);
  f.mutable_event_type()->set_sub_type(ev.subtype);
  f.set_traffic_direction(static_cast<flow::TrafficDirection>(ev.direction));
  if (ev.type == MYELIN_EVENT_TRACE) {
    f.set_trace_observation_point(static_cast<flow::TraceObservationPoint>(ev.obs_point));
    f.set_trace_reason(static_cast<flow::TraceReason>(ev.trace_reason));
  }
  if (ev.family != MYELIN_FAMILY_NONE && ev.trace_reason != MYELIN_TRACE_REASON_UNKNOWN)
    f.mutable_is_reply()->set_value(ev.is_reply != 0);
  else if (ev.family != MYELIN_FAMILY_NONE && ev.type == MYELIN_EVENT_DROP)
    f.mutable_is_reply()->set_value(false);
  f.mutable_interface()->set_index(ev.ifindex);
  if (ifnames_) f.mutable_interface()->set_name(ifnames_(ev.ifindex));
  if (ev.verdict == MYELIN_VERDICT_AUDIT) {
    f.set_drop_reason_desc(flow::DropReason_IsValid(ev.drop_reason) ? static_cast<flow::DropReason>(ev.drop_reason)
                                                                     : flow::DROP_REASON_UNKNOWN);
  }
  f.set_summary(flow_summary(f));
  if (view) view->annotate(ev, f);
  return f;
}

std::string flow_summary(const flow::Flow& f) {
  if (f.l4().has_tcp()) {
    const auto& fl = f.l4().tcp().flags();
    std::string s;
    auto add = [&](bool on, const char* n) {
      if (on) s += (s.empty() ? "" : ", ") + std::string(n);
    };
    add(fl.syn(), "SYN");
    add(fl.ack(), "ACK");
    add(fl.fin(), "FIN");
    add(fl.rst(), "RST");
    add(fl.psh(), "PSH");
    add(fl.urg(), "URG");
    add(fl.ece(), "ECE");
    add(fl.cwr(), "CWR");
    return "TCP Flags: " + s;
  }
  if (f.l4().has_udp()) return "UDP";
  if (f.l4().has_sctp()) return "SCTP";
  if (f.l4().has_icmpv4()) {
    const char* n = icmp_name(f.l4().icmpv4().type());
    return std::string("ICMPv4 ") + (n ? n : "Type" + std::to_string(f.l4().icmpv4().type()));
  }
  if (f.ip().source().empty()) return "Ethernet";
  return "IP";
}

}  // namespace myelin::flows
