// SPDX-License-Identifier: Apache-2.0
#include "myelin/flows/flow_filter.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <sstream>

#include "myelin/net.hpp"

namespace myelin::flows {
namespace {

using Check = std::function<bool(const flow::Flow&)>;

template <typename T, typename F>
bool any_of(const T& values, F f) {
  return std::any_of(values.begin(), values.end(), f);
}

// "10.0.0.1" or "10.0.0.0/24".
Result<net::Cidr4> ip_or_cidr(const std::string& field, const std::string& v) {
  if (v.find('/') == std::string::npos) {
    auto ip = net::parse_ipv4(v);
    if (!ip) return Error{field + ": '" + v + "' is not an IPv4 address or CIDR"};
    return net::Cidr4{*ip, 32};
  }
  // Accept host bits in filters ("10.0.0.7/24" means the /24).
  auto slash = v.find('/');
  auto ip = net::parse_ipv4(v.substr(0, slash));
  std::string len = v.substr(slash + 1);
  if (!ip || len.empty() || len.size() > 2 || len.find_first_not_of("0123456789") != std::string::npos || std::stoi(len) > 32)
    return Error{field + ": '" + v + "' is not an IPv4 address or CIDR"};
  int p = std::stoi(len);
  uint32_t mask = p == 0 ? 0 : ~((p == 32) ? 0u : ((1u << (32 - p)) - 1));
  return net::Cidr4{net::Ipv4{ip->host & mask}, static_cast<uint8_t>(p)};
}

Result<Check> ip_check(const std::string& field, const google::protobuf::RepeatedPtrField<std::string>& values,
                       bool source) {
  std::vector<net::Cidr4> cidrs;
  for (const auto& v : values) {
    auto c = ip_or_cidr(field, v);
    if (!c) return c.error();
    cidrs.push_back(*c);
  }
  return Check([cidrs, source](const flow::Flow& f) {
    auto ip = net::parse_ipv4(source ? f.ip().source() : f.ip().destination());
    return ip && std::any_of(cidrs.begin(), cidrs.end(), [&](const net::Cidr4& c) { return c.contains(*ip); });
  });
}

// "ns/pod-prefix", "ns/" (whole namespace) or "pod-prefix" (namespace default).
Check pod_check(const google::protobuf::RepeatedPtrField<std::string>& values, bool source) {
  std::vector<std::pair<std::string, std::string>> pods;
  for (const auto& v : values) {
    auto slash = v.find('/');
    if (slash == std::string::npos) pods.emplace_back("default", v);
    else pods.emplace_back(v.substr(0, slash), v.substr(slash + 1));
  }
  return [pods, source](const flow::Flow& f) {
    const flow::Endpoint& ep = source ? f.source() : f.destination();
    for (const auto& [ns, prefix] : pods)
      if (ep.namespace_() == ns && !ep.pod_name().empty() && ep.pod_name().rfind(prefix, 0) == 0) return true;
      else if (ep.namespace_() == ns && prefix.empty() && !ns.empty()) return true;
    return false;
  };
}

// Hubble's source_service/destination_service: "ns/name-prefix", "ns/"
// (every Service of the namespace) or "name-prefix" (namespace default, as
// the CLI reads it). A flow that names no Service never matches.
Result<Check> service_check(const std::string& field, const google::protobuf::RepeatedPtrField<std::string>& values,
                            bool source) {
  std::vector<std::pair<std::string, std::string>> svcs;
  for (const auto& v : values) {
    auto slash = v.find('/');
    std::string ns = slash == std::string::npos ? "default" : v.substr(0, slash);
    std::string prefix = slash == std::string::npos ? v : v.substr(slash + 1);
    if (ns.empty() || prefix.find('/') != std::string::npos || (slash == std::string::npos && prefix.empty()))
      return Error{field + ": '" + v + "' is not [NAMESPACE/]NAME-PREFIX or NAMESPACE/"};
    svcs.emplace_back(std::move(ns), std::move(prefix));
  }
  return Check([svcs, source](const flow::Flow& f) {
    if (!(source ? f.has_source_service() : f.has_destination_service())) return false;
    const flow::Service& s = source ? f.source_service() : f.destination_service();
    if (s.name().empty()) return false;
    for (const auto& [ns, prefix] : svcs)
      if (s.namespace_() == ns && s.name().rfind(prefix, 0) == 0) return true;
    return false;
  });
}

std::string strip_source(const std::string& label) {
  auto colon = label.find(':');
  auto eq = label.find('=');
  if (colon != std::string::npos && (eq == std::string::npos || colon < eq)) return label.substr(colon + 1);
  return label;
}

// "k=v,k2" -> every term must hold; "k" means the key exists.
Check label_check(const google::protobuf::RepeatedPtrField<std::string>& values, bool source) {
  std::vector<std::vector<std::string>> selectors;
  for (const auto& v : values) {
    std::vector<std::string> terms;
    std::stringstream ss(v);
    std::string t;
    while (std::getline(ss, t, ','))
      if (!t.empty()) terms.push_back(strip_source(t));
    selectors.push_back(terms);
  }
  return [selectors, source](const flow::Flow& f) {
    const auto& labels = (source ? f.source() : f.destination()).labels();
    auto has = [&](const std::string& term) {
      bool key_only = term.find('=') == std::string::npos;
      for (const auto& l : labels) {
        std::string s = strip_source(l);
        if (key_only ? s.substr(0, s.find('=')) == term : s == term) return true;
      }
      return false;
    };
    for (const auto& sel : selectors)
      if (std::all_of(sel.begin(), sel.end(), has)) return true;
    return false;
  };
}

std::string protocol_of(const flow::Flow& f) {
  switch (f.l4().protocol_case()) {
    case flow::Layer4::kTCP: return "tcp";
    case flow::Layer4::kUDP: return "udp";
    case flow::Layer4::kICMPv4: return "icmpv4";
    case flow::Layer4::kICMPv6: return "icmpv6";
    case flow::Layer4::kSCTP: return "sctp";
    default: return "";
  }
}

uint32_t port_of(const flow::Flow& f, bool source) {
  switch (f.l4().protocol_case()) {
    case flow::Layer4::kTCP: return source ? f.l4().tcp().source_port() : f.l4().tcp().destination_port();
    case flow::Layer4::kUDP: return source ? f.l4().udp().source_port() : f.l4().udp().destination_port();
    case flow::Layer4::kSCTP: return source ? f.l4().sctp().source_port() : f.l4().sctp().destination_port();
    default: return 0;
  }
}

Result<Check> port_check(const std::string& field, const google::protobuf::RepeatedPtrField<std::string>& values,
                         bool source) {
  std::vector<uint32_t> ports;
  for (const auto& v : values) {
    if (v.empty() || v.size() > 5 || v.find_first_not_of("0123456789") != std::string::npos || std::stoul(v) > 65535)
      return Error{field + ": '" + v + "' is not a port number (0-65535)"};
    ports.push_back(static_cast<uint32_t>(std::stoul(v)));
  }
  return Check([ports, source](const flow::Flow& f) {
    uint32_t p = port_of(f, source);
    return f.l4().protocol_case() != flow::Layer4::PROTOCOL_NOT_SET &&
           std::find(ports.begin(), ports.end(), p) != ports.end();
  });
}

bool flags_contain(const flow::TCPFlags& have, const flow::TCPFlags& want) {
  return (!want.fin() || have.fin()) && (!want.syn() || have.syn()) && (!want.rst() || have.rst()) &&
         (!want.psh() || have.psh()) && (!want.ack() || have.ack()) && (!want.urg() || have.urg()) &&
         (!want.ece() || have.ece()) && (!want.cwr() || have.cwr()) && (!want.ns() || have.ns());
}

}  // namespace

Result<FlowFilter> FlowFilter::compile(const flow::FlowFilter& in) {
  FlowFilter out;
  auto& c = out.checks_;
  if (in.source_ip_size()) {
    auto k = ip_check("source_ip", in.source_ip(), true);
    if (!k) return k.error();
    c.push_back(*k);
  }
  if (in.destination_ip_size()) {
    auto k = ip_check("destination_ip", in.destination_ip(), false);
    if (!k) return k.error();
    c.push_back(*k);
  }
  if (in.source_pod_size()) c.push_back(pod_check(in.source_pod(), true));
  if (in.destination_pod_size()) c.push_back(pod_check(in.destination_pod(), false));
  if (in.source_service_size()) {
    auto k = service_check("source_service", in.source_service(), true);
    if (!k) return k.error();
    c.push_back(*k);
  }
  if (in.destination_service_size()) {
    auto k = service_check("destination_service", in.destination_service(), false);
    if (!k) return k.error();
    c.push_back(*k);
  }
  if (in.source_label_size()) c.push_back(label_check(in.source_label(), true));
  if (in.destination_label_size()) c.push_back(label_check(in.destination_label(), false));
  if (in.verdict_size()) {
    auto v = in.verdict();
    c.push_back([v](const flow::Flow& f) { return any_of(v, [&](int x) { return x == f.verdict(); }); });
  }
  if (in.event_type_size()) {
    auto v = in.event_type();
    c.push_back([v](const flow::Flow& f) {
      return any_of(v, [&](const flow::EventTypeFilter& e) {
        return e.type() == f.event_type().type() && (!e.match_sub_type() || e.sub_type() == f.event_type().sub_type());
      });
    });
  }
  if (in.protocol_size()) {
    std::vector<std::string> protos;
    for (auto p : in.protocol()) {
      std::transform(p.begin(), p.end(), p.begin(), ::tolower);
      if (p == "icmp") p = "icmpv4";
      if (p != "tcp" && p != "udp" && p != "icmpv4" && p != "icmpv6" && p != "sctp")
        return Error{"protocol: '" + p + "' is not one of tcp, udp, icmp, icmpv4, icmpv6, sctp"};
      protos.push_back(p);
    }
    c.push_back([protos](const flow::Flow& f) {
      return std::find(protos.begin(), protos.end(), protocol_of(f)) != protos.end();
    });
  }
  if (in.source_port_size()) {
    auto k = port_check("source_port", in.source_port(), true);
    if (!k) return k.error();
    c.push_back(*k);
  }
  if (in.destination_port_size()) {
    auto k = port_check("destination_port", in.destination_port(), false);
    if (!k) return k.error();
    c.push_back(*k);
  }
  if (in.reply_size()) {
    auto v = in.reply();
    c.push_back([v](const flow::Flow& f) {
      return f.has_is_reply() && any_of(v, [&](bool r) { return r == f.is_reply().value(); });
    });
  }
  if (in.source_identity_size()) {
    auto v = in.source_identity();
    c.push_back([v](const flow::Flow& f) { return any_of(v, [&](uint32_t x) { return x == f.source().identity(); }); });
  }
  if (in.destination_identity_size()) {
    auto v = in.destination_identity();
    c.push_back(
        [v](const flow::Flow& f) { return any_of(v, [&](uint32_t x) { return x == f.destination().identity(); }); });
  }
  if (in.tcp_flags_size()) {
    auto v = in.tcp_flags();
    c.push_back([v](const flow::Flow& f) {
      return f.l4().has_tcp() && any_of(v, [&](const flow::TCPFlags& w) { return flags_contain(f.l4().tcp().flags(), w); });
    });
  }
  if (in.node_name_size()) {
    auto v = in.node_name();
    c.push_back([v](const flow::Flow& f) {
      return any_of(v, [&](const std::string& g) { return fnmatch(g.c_str(), f.node_name().c_str(), 0) == 0; });
    });
  }
  if (in.ip_version_size()) {
    auto v = in.ip_version();
    c.push_back([v](const flow::Flow& f) { return any_of(v, [&](int x) { return x == f.ip().ipversion(); }); });
  }
  if (in.uuid_size()) {
    auto v = in.uuid();
    c.push_back([v](const flow::Flow& f) { return any_of(v, [&](const std::string& u) { return u == f.uuid(); }); });
  }
  if (in.traffic_direction_size()) {
    auto v = in.traffic_direction();
    c.push_back([v](const flow::Flow& f) { return any_of(v, [&](int x) { return x == f.traffic_direction(); }); });
  }
  if (in.drop_reason_desc_size()) {
    auto v = in.drop_reason_desc();
    c.push_back([v](const flow::Flow& f) { return any_of(v, [&](int x) { return x == f.drop_reason_desc(); }); });
  }
  return out;
}

bool FlowFilter::matches(const flow::Flow& f) const {
  return std::all_of(checks_.begin(), checks_.end(), [&](const Check& c) { return c(f); });
}

Result<FilterSet> FilterSet::compile(const google::protobuf::RepeatedPtrField<flow::FlowFilter>& whitelist,
                                     const google::protobuf::RepeatedPtrField<flow::FlowFilter>& blacklist) {
  FilterSet s;
  for (const auto& f : whitelist) {
    auto c = FlowFilter::compile(f);
    if (!c) return c.error();
    s.white_.push_back(std::move(*c));
  }
  for (const auto& f : blacklist) {
    auto c = FlowFilter::compile(f);
    if (!c) return c.error();
    s.black_.push_back(std::move(*c));
  }
  return s;
}

bool FilterSet::matches(const flow::Flow& f) const {
  if (!white_.empty() && std::none_of(white_.begin(), white_.end(), [&](const FlowFilter& w) { return w.matches(f); }))
    return false;
  return std::none_of(black_.begin(), black_.end(), [&](const FlowFilter& b) { return b.matches(f); });
}

}  // namespace myelin::flows
