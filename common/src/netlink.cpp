// SPDX-License-Identifier: Apache-2.0
#include "myelin/netlink.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <vector>

namespace myelin::netlink {
namespace {

struct SocketCloser {
  void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};
using Socket = std::unique_ptr<mnl_socket, SocketCloser>;

Result<Socket> open_socket() {
  Socket s(mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC));
  if (!s) return Error::from_errno("netlink socket");
  if (mnl_socket_bind(s.get(), 0, MNL_SOCKET_AUTOPID) < 0) return Error::from_errno("netlink bind");
  return s;
}

using Parser = std::function<void(const nlmsghdr*)>;

// mnl_attr_for_each relies on void* conversions C++ refuses; same walk here.
template <typename F>
void for_each_attr(const nlmsghdr* n, size_t offset, F f) {
  auto* a = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(n, offset));
  auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(n));
  while (mnl_attr_ok(a, static_cast<int>(tail - reinterpret_cast<const char*>(a)))) {
    f(a);
    a = mnl_attr_next(a);
  }
}

// Sends one request and reads until its ACK (or the end of a dump). A
// kernel error comes back as an Error with the errno as code.
Status talk(nlmsghdr* nlh, const std::string& what, const Parser& parse = {}) {
  auto s = open_socket();
  if (!s) return s.error();
  uint32_t seq = static_cast<uint32_t>(time(nullptr)) ^ static_cast<uint32_t>(getpid());
  nlh->nlmsg_seq = seq;
  nlh->nlmsg_flags |= NLM_F_ACK;
  if (mnl_socket_sendto(s->get(), nlh, nlh->nlmsg_len) < 0) return Error::from_errno(what + ": send");
  uint32_t portid = mnl_socket_get_portid(s->get());
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE * 4);
  struct Ctx {
    const Parser* parse;
  } ctx{&parse};
  auto cb = [](const nlmsghdr* n, void* data) -> int {
    auto* c = static_cast<Ctx*>(data);
    if (*c->parse) (*c->parse)(n);
    return MNL_CB_OK;
  };
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(s->get(), buf.data(), buf.size());
    if (n < 0) return Error::from_errno(what + ": receive");
    int ret = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid, cb, &ctx);
    if (ret == MNL_CB_STOP) return {};
    if (ret < 0) return Error::from_errno(what, errno);
  }
}

struct Msg {
  std::vector<char> buf = std::vector<char>(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh;
  Msg(uint16_t type, uint16_t flags) {
    nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  }
  template <typename T>
  T* extra() {
    return static_cast<T*>(mnl_nlmsg_put_extra_header(nlh, sizeof(T)));
  }
};

LinkInfo parse_link(const nlmsghdr* n) {
  LinkInfo info;
  auto* ifm = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(n));
  info.index = ifm->ifi_index;
  info.up = ifm->ifi_flags & IFF_UP;
  for_each_attr(n, sizeof(*ifm), [&](const nlattr* a) {
    switch (mnl_attr_get_type(a)) {
      case IFLA_IFNAME: info.name = mnl_attr_get_str(a); break;
      case IFLA_MTU: info.mtu = mnl_attr_get_u32(a); break;
      case IFLA_ADDRESS:
        if (mnl_attr_get_payload_len(a) == 6) std::memcpy(info.mac.data(), mnl_attr_get_payload(a), 6);
        break;
      case IFLA_LINKINFO: {
        // The nested IFLA_INFO_KIND.
        auto* in = static_cast<const nlattr*>(mnl_attr_get_payload(a));
        int left = static_cast<int>(mnl_attr_get_payload_len(a));
        while (mnl_attr_ok(in, left)) {
          if (mnl_attr_get_type(in) == IFLA_INFO_KIND) info.kind = mnl_attr_get_str(in);
          left -= static_cast<int>(MNL_ALIGN(in->nla_len));
          in = mnl_attr_next(in);
        }
        break;
      }
    }
  });
  return info;
}

Result<LinkInfo> link_query(int index, const std::string* name) {
  Msg m(RTM_GETLINK, 0);
  auto* ifm = m.extra<ifinfomsg>();
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_index = index;
  if (name) mnl_attr_put_strz(m.nlh, IFLA_IFNAME, name->c_str());
  LinkInfo info;
  bool found = false;
  std::string what = "link " + (name ? *name : std::to_string(index));
  auto s = talk(m.nlh, what, [&](const nlmsghdr* n) {
    if (n->nlmsg_type == RTM_NEWLINK) {
      info = parse_link(n);
      found = true;
    }
  });
  if (!s) {
    if (s.error().code == ENODEV) return Error{what + " does not exist", ENODEV};
    return s.error();
  }
  if (!found) return Error{what + " does not exist", ENODEV};
  return info;
}

}  // namespace

Result<LinkInfo> link_get(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return Error{"bad interface name '" + name + "'", EINVAL};
  return link_query(0, &name);
}

Result<LinkInfo> link_get(int index) { return link_query(index, nullptr); }

Status veth_create(const std::string& name, const std::string& peer_name, int peer_netns_fd, unsigned mtu) {
  Msg m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  auto* ifm = m.extra<ifinfomsg>();
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(m.nlh, IFLA_IFNAME, name.c_str());
  if (mtu) mnl_attr_put_u32(m.nlh, IFLA_MTU, mtu);
  nlattr* linkinfo = mnl_attr_nest_start(m.nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(m.nlh, IFLA_INFO_KIND, "veth");
  nlattr* data = mnl_attr_nest_start(m.nlh, IFLA_INFO_DATA);
  nlattr* peer = mnl_attr_nest_start(m.nlh, VETH_INFO_PEER);
  auto* pifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(m.nlh, sizeof(ifinfomsg)));
  pifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(m.nlh, IFLA_IFNAME, peer_name.c_str());
  if (mtu) mnl_attr_put_u32(m.nlh, IFLA_MTU, mtu);
  mnl_attr_put_u32(m.nlh, IFLA_NET_NS_FD, static_cast<uint32_t>(peer_netns_fd));
  mnl_attr_nest_end(m.nlh, peer);
  mnl_attr_nest_end(m.nlh, data);
  mnl_attr_nest_end(m.nlh, linkinfo);
  return talk(m.nlh, "create veth " + name + "/" + peer_name);
}

Status link_set_up(int index) {
  Msg m(RTM_NEWLINK, 0);
  auto* ifm = m.extra<ifinfomsg>();
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_index = index;
  ifm->ifi_flags = IFF_UP;
  ifm->ifi_change = IFF_UP;
  return talk(m.nlh, "set link " + std::to_string(index) + " up");
}

Status link_delete(const std::string& name) {
  auto link = link_get(name);
  if (!link) return link.error().code == ENODEV ? Status{} : Status{link.error()};
  Msg m(RTM_DELLINK, 0);
  auto* ifm = m.extra<ifinfomsg>();
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_index = link->index;
  auto s = talk(m.nlh, "delete link " + name);
  if (!s && s.error().code == ENODEV) return {};
  return s;
}

Status addr_add(int index, net::Ipv4 ip, uint8_t prefix) {
  Msg m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
  auto* ifa = m.extra<ifaddrmsg>();
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = prefix;
  ifa->ifa_index = static_cast<uint32_t>(index);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  uint32_t addr = ip.network_order();
  mnl_attr_put_u32(m.nlh, IFA_LOCAL, addr);
  mnl_attr_put_u32(m.nlh, IFA_ADDRESS, addr);
  auto s = talk(m.nlh, "add address " + ip.str());
  if (!s && s.error().code == EEXIST) return {};
  return s;
}

Result<std::vector<std::pair<net::Ipv4, uint8_t>>> addr_list(int index) {
  Msg m(RTM_GETADDR, NLM_F_DUMP);
  auto* ifa = m.extra<ifaddrmsg>();
  ifa->ifa_family = AF_INET;
  std::vector<std::pair<net::Ipv4, uint8_t>> out;
  auto s = talk(m.nlh, "list addresses", [&](const nlmsghdr* n) {
    if (n->nlmsg_type != RTM_NEWADDR) return;
    auto* a = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(n));
    if ((index != 0 && static_cast<int>(a->ifa_index) != index) || a->ifa_family != AF_INET) return;
    for_each_attr(n, sizeof(*a), [&](const nlattr* at) {
      if (mnl_attr_get_type(at) == IFA_LOCAL)
        out.emplace_back(net::Ipv4{ntohl(mnl_attr_get_u32(at))}, a->ifa_prefixlen);
    });
  });
  if (!s) return s.error();
  return out;
}

static Status route_op(uint16_t type, uint16_t flags, net::Cidr4 dst, int oif, std::optional<net::Ipv4> gw,
                       bool scope_link, unsigned mtu = 0) {
  Msg m(type, flags);
  auto* rtm = m.extra<rtmsg>();
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = dst.prefix;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_STATIC;
  rtm->rtm_scope = scope_link ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  rtm->rtm_type = RTN_UNICAST;
  if (dst.prefix > 0) mnl_attr_put_u32(m.nlh, RTA_DST, dst.base.network_order());
  mnl_attr_put_u32(m.nlh, RTA_OIF, static_cast<uint32_t>(oif));
  if (gw) mnl_attr_put_u32(m.nlh, RTA_GATEWAY, gw->network_order());
  if (mtu) {
    nlattr* metrics = mnl_attr_nest_start(m.nlh, RTA_METRICS);
    mnl_attr_put_u32(m.nlh, RTAX_MTU, mtu);
    mnl_attr_nest_end(m.nlh, metrics);
  }
  return talk(m.nlh, std::string(type == RTM_DELROUTE ? "delete" : "replace") + " route " + dst.str());
}

Status route_replace(net::Cidr4 dst, int oif, std::optional<net::Ipv4> gw, bool scope_link, unsigned mtu) {
  return route_op(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, dst, oif, gw, scope_link, mtu);
}

Status vxlan_create(const VxlanSpec& spec) {
  if (spec.name.empty() || spec.name.size() >= IFNAMSIZ) return Error{"bad interface name '" + spec.name + "'", EINVAL};
  Msg m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  auto* ifm = m.extra<ifinfomsg>();
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_flags = IFF_NOARP;
  ifm->ifi_change = IFF_NOARP;
  mnl_attr_put_strz(m.nlh, IFLA_IFNAME, spec.name.c_str());
  if (spec.mtu) mnl_attr_put_u32(m.nlh, IFLA_MTU, spec.mtu);
  nlattr* linkinfo = mnl_attr_nest_start(m.nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(m.nlh, IFLA_INFO_KIND, "vxlan");
  nlattr* data = mnl_attr_nest_start(m.nlh, IFLA_INFO_DATA);
  mnl_attr_put_u8(m.nlh, IFLA_VXLAN_COLLECT_METADATA, 1);
  mnl_attr_put_u8(m.nlh, IFLA_VXLAN_LEARNING, 0);
  mnl_attr_put_u16(m.nlh, IFLA_VXLAN_PORT, htons(spec.port));
  if (spec.local.host) mnl_attr_put_u32(m.nlh, IFLA_VXLAN_LOCAL, spec.local.network_order());
  mnl_attr_nest_end(m.nlh, data);
  mnl_attr_nest_end(m.nlh, linkinfo);
  return talk(m.nlh, "create vxlan " + spec.name);
}

Status route_delete(net::Cidr4 dst, int oif) {
  auto s = route_op(RTM_DELROUTE, 0, dst, oif, std::nullopt, true);
  if (!s && (s.error().code == ESRCH || s.error().code == ENODEV || s.error().code == ENOENT)) return {};
  return s;
}

namespace {

RouteInfo parse_route(const nlmsghdr* n) {
  RouteInfo r;
  auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(n));
  r.dst.prefix = rtm->rtm_dst_len;
  r.protocol = rtm->rtm_protocol;
  r.type = rtm->rtm_type;
  for_each_attr(n, sizeof(*rtm), [&](const nlattr* a) {
    switch (mnl_attr_get_type(a)) {
      case RTA_DST: r.dst.base = net::Ipv4{ntohl(mnl_attr_get_u32(a))}; break;
      case RTA_GATEWAY: r.gw = net::Ipv4{ntohl(mnl_attr_get_u32(a))}; break;
      case RTA_OIF: r.oif = static_cast<int>(mnl_attr_get_u32(a)); break;
      case RTA_METRICS: {
        auto* m = static_cast<const nlattr*>(mnl_attr_get_payload(a));
        auto* end = reinterpret_cast<const char*>(m) + mnl_attr_get_payload_len(a);
        while (mnl_attr_ok(m, static_cast<int>(end - reinterpret_cast<const char*>(m)))) {
          if (mnl_attr_get_type(m) == RTAX_MTU) r.mtu = mnl_attr_get_u32(m);
          m = mnl_attr_next(m);
        }
        break;
      }
    }
  });
  return r;
}

Status route_msg(uint16_t type, uint16_t flags, const RouteInfo& r) {
  Msg m(type, flags);
  auto* rtm = m.extra<rtmsg>();
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = r.dst.prefix;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = r.protocol;
  rtm->rtm_scope = r.gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  rtm->rtm_type = RTN_UNICAST;
  if (r.dst.prefix > 0) mnl_attr_put_u32(m.nlh, RTA_DST, r.dst.base.network_order());
  if (r.oif) mnl_attr_put_u32(m.nlh, RTA_OIF, static_cast<uint32_t>(r.oif));
  if (r.gw) mnl_attr_put_u32(m.nlh, RTA_GATEWAY, r.gw->network_order());
  if (r.mtu && type == RTM_NEWROUTE) {
    nlattr* metrics = mnl_attr_nest_start(m.nlh, RTA_METRICS);
    mnl_attr_put_u32(m.nlh, RTAX_MTU, r.mtu);
    mnl_attr_nest_end(m.nlh, metrics);
  }
  return talk(m.nlh, std::string(type == RTM_DELROUTE ? "delete" : "replace") + " route " + r.dst.str() +
                         (r.gw ? " via " + r.gw->str() : std::string()));
}

}  // namespace

Status route_replace(const RouteInfo& r) { return route_msg(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r); }

Status route_delete(const RouteInfo& r) {
  RouteInfo d = r;
  d.gw.reset();  // matched by table, destination and protocol
  d.oif = 0;
  d.mtu = 0;
  Msg m(RTM_DELROUTE, 0);
  auto* rtm = m.extra<rtmsg>();
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = d.dst.prefix;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = d.protocol;
  rtm->rtm_scope = RT_SCOPE_NOWHERE;  // any scope
  if (d.dst.prefix > 0) mnl_attr_put_u32(m.nlh, RTA_DST, d.dst.base.network_order());
  auto s = talk(m.nlh, "delete route " + d.dst.str());
  if (!s && (s.error().code == ESRCH || s.error().code == ENODEV || s.error().code == ENOENT)) return {};
  return s;
}

Result<std::vector<RouteInfo>> route_list(uint8_t protocol) {
  Msg m(RTM_GETROUTE, NLM_F_DUMP);
  auto* rtm = m.extra<rtmsg>();
  rtm->rtm_family = AF_INET;
  std::vector<RouteInfo> out;
  auto s = talk(m.nlh, "list routes", [&](const nlmsghdr* n) {
    if (n->nlmsg_type != RTM_NEWROUTE) return;
    auto* r = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(n));
    if (r->rtm_family != AF_INET || r->rtm_table != RT_TABLE_MAIN || r->rtm_protocol != protocol) return;
    out.push_back(parse_route(n));
  });
  if (!s) return s.error();
  return out;
}

Result<RouteInfo> route_get(net::Ipv4 dst) {
  Msg m(RTM_GETROUTE, 0);
  auto* rtm = m.extra<rtmsg>();
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = 32;
  mnl_attr_put_u32(m.nlh, RTA_DST, dst.network_order());
  std::optional<RouteInfo> found;
  auto s = talk(m.nlh, "route to " + dst.str(), [&](const nlmsghdr* n) {
    if (n->nlmsg_type == RTM_NEWROUTE) found = parse_route(n);
  });
  if (!s) return s.error();
  if (!found) return Error{"route to " + dst.str() + ": no answer", ENETUNREACH};
  return *found;
}

Status neigh_replace(int index, net::Ipv4 ip, const net::Mac& mac) {
  Msg m(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
  auto* nd = m.extra<ndmsg>();
  nd->ndm_family = AF_INET;
  nd->ndm_ifindex = index;
  nd->ndm_state = NUD_PERMANENT;
  mnl_attr_put_u32(m.nlh, NDA_DST, ip.network_order());
  mnl_attr_put(m.nlh, NDA_LLADDR, 6, mac.data());
  return talk(m.nlh, "neighbour " + ip.str());
}

Result<NetnsGuard> NetnsGuard::enter(const std::string& netns_path) {
  NetnsGuard g;
  g.original_.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!g.original_) return Error::from_errno("open current network namespace");
  UniqueFd target(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!target) return Error::from_errno("open network namespace " + netns_path);
  if (::setns(target.get(), CLONE_NEWNET) != 0) return Error::from_errno("enter network namespace " + netns_path);
  return g;
}

NetnsGuard::~NetnsGuard() {
  if (original_) (void)::setns(original_.get(), CLONE_NEWNET);
}

}  // namespace myelin::netlink
