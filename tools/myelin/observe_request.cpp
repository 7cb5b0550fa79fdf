// SPDX-License-Identifier: Apache-2.0
#include "observe_request.hpp"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <functional>
#include <map>

#include "flow.pb.h"
#include "myelin/abi/net.hpp"
#include "myelin/net.hpp"

namespace myelin::cli {
namespace {

using google::protobuf::util::TimeUtil;

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::toupper);
  return s;
}

Status check_ip(const std::string& flag, const std::string& v) {
  std::string ip = v.substr(0, v.find('/'));
  if (!net::parse_ipv4(ip)) return Error{flag + ": '" + v + "' is not an IPv4 address or CIDR"};
  if (v.find('/') != std::string::npos) {
    std::string len = v.substr(v.find('/') + 1);
    if (len.empty() || len.size() > 2 || len.find_first_not_of("0123456789") != std::string::npos || std::stoi(len) > 32)
      return Error{flag + ": '" + v + "' has a bad prefix length"};
  }
  return {};
}

Status check_port(const std::string& flag, const std::string& v) {
  if (v.empty() || v.size() > 5 || v.find_first_not_of("0123456789") != std::string::npos || std::stoul(v) > 65535)
    return Error{flag + ": '" + v + "' is not a port number (0-65535)"};
  return {};
}

// [NS/]NAME-PREFIX or NS/ (every Service of NS), as --pod reads a pod.
Status check_service(const std::string& flag, const std::string& v) {
  auto slash = v.find('/');
  if (v.empty() || slash == 0 || (slash != std::string::npos && v.find('/', slash + 1) != std::string::npos))
    return Error{flag + ": '" + v + "' is not [NAMESPACE/]SERVICE-PREFIX or NAMESPACE/"};
  return {};
}

Result<uint32_t> parse_u32(const std::string& flag, const std::string& v) {
  if (v.empty() || v.size() > 10 || v.find_first_not_of("0123456789") != std::string::npos)
    return Error{flag + ": '" + v + "' is not a number"};
  return static_cast<uint32_t>(std::stoull(v));
}

// A filter flag adds its value to the source side, the destination side, or
// (for the plain form) to both as two alternative filters.
enum class Side { source, destination, either, none };

struct Filters {
  flow::FlowFilter common;      // fields without a side
  flow::FlowFilter src, dst;    // --from-* / --to-*
  flow::FlowFilter either_src, either_dst;  // --pod/--ip/... as two alternatives
  bool has_either = false;
  bool has_src = false, has_dst = false, has_common = false;

  // The filters this group stands for (OR of alternatives).
  std::vector<flow::FlowFilter> compile() const {
    flow::FlowFilter base = common;
    base.MergeFrom(src);
    base.MergeFrom(dst);
    if (!has_either) {
      if (!has_src && !has_dst && !has_common) return {};
      return {base};
    }
    flow::FlowFilter a = base, b = base;
    a.MergeFrom(either_src);
    b.MergeFrom(either_dst);
    return {a, b};
  }
};

using Adder = std::function<Status(flow::FlowFilter& f, const std::string& value)>;
struct FilterFlag {
  Side side;
  Adder add;
};

Status add_tcp_flags(flow::FlowFilter& f, const std::string& v) {
  flow::TCPFlags* fl = f.add_tcp_flags();
  size_t start = 0;
  while (start <= v.size()) {
    size_t comma = v.find(',', start);
    std::string name = upper(v.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (name == "SYN") fl->set_syn(true);
    else if (name == "ACK") fl->set_ack(true);
    else if (name == "FIN") fl->set_fin(true);
    else if (name == "RST") fl->set_rst(true);
    else if (name == "PSH") fl->set_psh(true);
    else if (name == "URG") fl->set_urg(true);
    else if (name == "ECE") fl->set_ece(true);
    else if (name == "CWR") fl->set_cwr(true);
    else if (name == "NS") fl->set_ns(true);
    else return Error{"--tcp-flags: '" + name + "' is not a TCP flag (SYN, ACK, FIN, RST, PSH, URG, ECE, CWR, NS)"};
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return {};
}

// name -> side and how its value lands in a FlowFilter (source-side fields; the
// destination form is derived by the caller through `dst`).
struct SidedField {
  Adder source, destination;
};

Status no_check(const std::string&, const std::string&) { return {}; }
Status check_u32(const std::string& flag, const std::string& v) {
  auto n = parse_u32(flag, v);
  return n ? Status{} : Status{n.error()};
}

// A filter with a source and a destination form: the value is checked once,
// then added by `src` or `dst`.
template <typename Src, typename Dst>
SidedField sided(const std::string& flag, Status (*check)(const std::string&, const std::string&), Src src, Dst dst) {
  auto make = [flag, check](auto add) {
    return Adder([flag, check, add](flow::FlowFilter& f, const std::string& v) {
      if (auto s = check(flag, v); !s) return s;
      add(f, v);
      return Status{};
    });
  };
  return {make(src), make(dst)};
}

const std::map<std::string, SidedField>& sided_fields() {
  using F = flow::FlowFilter;
  using S = const std::string;
  static const std::map<std::string, SidedField> m = {
      {"pod", sided("--pod", no_check, [](F& f, S& v) { f.add_source_pod(v); }, [](F& f, S& v) { f.add_destination_pod(v); })},
      {"service", sided("--service", check_service, [](F& f, S& v) { f.add_source_service(v); },
                        [](F& f, S& v) { f.add_destination_service(v); })},
      {"namespace", sided("--namespace", no_check, [](F& f, S& v) { f.add_source_pod(v + "/"); },
                          [](F& f, S& v) { f.add_destination_pod(v + "/"); })},
      {"ip", sided("--ip", check_ip, [](F& f, S& v) { f.add_source_ip(v); }, [](F& f, S& v) { f.add_destination_ip(v); })},
      {"label", sided("--label", no_check, [](F& f, S& v) { f.add_source_label(v); },
                      [](F& f, S& v) { f.add_destination_label(v); })},
      {"identity", sided("--identity", check_u32, [](F& f, S& v) { f.add_source_identity(std::stoul(v)); },
                         [](F& f, S& v) { f.add_destination_identity(std::stoul(v)); })},
      {"port", sided("--port", check_port, [](F& f, S& v) { f.add_source_port(v); },
                     [](F& f, S& v) { f.add_destination_port(v); })},
  };
  return m;
}

const std::map<std::string, Adder>& common_fields() {
  static const std::map<std::string, Adder> m = {
      {"verdict",
       [](flow::FlowFilter& f, const std::string& v) {
         flow::Verdict verdict;
         if (!flow::Verdict_Parse(upper(v), &verdict) || verdict == flow::VERDICT_UNKNOWN)
           return Status{Error{"--verdict: '" + v + "' is not a verdict (FORWARDED, DROPPED, AUDIT, ERROR, ...)"}};
         f.add_verdict(verdict);
         return Status{};
       }},
      {"drop-reason-desc",
       [](flow::FlowFilter& f, const std::string& v) {
         flow::DropReason r;
         if (!flow::DropReason_Parse(upper(v), &r)) return Status{Error{"--drop-reason-desc: '" + v + "' is not a drop reason"}};
         f.add_drop_reason_desc(r);
         return Status{};
       }},
      {"protocol",
       [](flow::FlowFilter& f, const std::string& v) {
         std::string p = v;
         std::transform(p.begin(), p.end(), p.begin(), ::tolower);
         if (p != "tcp" && p != "udp" && p != "icmp" && p != "icmpv4" && p != "icmpv6" && p != "sctp")
           return Status{Error{"--protocol: '" + v + "' is not tcp, udp, icmp, icmpv4, icmpv6 or sctp"}};
         f.add_protocol(p);
         return Status{};
       }},
      {"type",
       [](flow::FlowFilter& f, const std::string& v) {
         for (const auto& [type, name] : abi::kEventTypes)
           if (v == name) {
             f.add_event_type()->set_type(type);
             return Status{};
           }
         return Status{Error{"--type: '" + v + "' is not trace, drop or policy-verdict"}};
       }},
      {"traffic-direction",
       [](flow::FlowFilter& f, const std::string& v) {
         std::string d = upper(v);
         if (d != "INGRESS" && d != "EGRESS") return Status{Error{"--traffic-direction: '" + v + "' is not ingress or egress"}};
         f.add_traffic_direction(d == "INGRESS" ? flow::INGRESS : flow::EGRESS);
         return Status{};
       }},
      {"tcp-flags", add_tcp_flags},
      {"node-name", [](flow::FlowFilter& f, const std::string& v) { f.add_node_name(v); return Status{}; }},
      {"uuid", [](flow::FlowFilter& f, const std::string& v) { f.add_uuid(v); return Status{}; }},
      {"reply",
       [](flow::FlowFilter& f, const std::string& v) {
         if (v != "true" && v != "false") return Status{Error{"--reply takes true or false"}};
         f.add_reply(v == "true");
         return Status{};
       }},
  };
  return m;
}

}  // namespace

Result<google::protobuf::Timestamp> parse_time(const std::string& v, std::chrono::system_clock::time_point now) {
  if (!v.empty() && v.find_first_not_of("0123456789") == v.size() - 1) {
    static const std::map<char, int64_t> unit = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
    auto u = unit.find(v.back());
    if (u != unit.end() && v.size() > 1) {
      // At most 100 years back: more digits threw out of stoll, and more time overflowed nanoseconds.
      constexpr int64_t kMaxBack = 100LL * 366 * 86400;
      if (v.size() > 11 || std::stoll(v.substr(0, v.size() - 1)) > kMaxBack / u->second)
        return Error{"'" + v + "' is more than 100 years back"};
      auto secs = std::stoll(v.substr(0, v.size() - 1)) * u->second;
      auto t = now - std::chrono::seconds(secs);
      return TimeUtil::NanosecondsToTimestamp(
          std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
    }
  }
  google::protobuf::Timestamp ts;
  if (TimeUtil::FromString(v, &ts)) return ts;
  return Error{"'" + v + "' is neither a relative time (30s, 5m, 2h, 1d) nor RFC 3339 (2026-11-24T10:00:00Z)"};
}

Result<api::ObserveRequest> build_observe_request(const std::vector<std::string>& args,
                                                  std::chrono::system_clock::time_point now) {
  api::ObserveRequest req;
  Filters allow, deny;
  bool negate_next = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "--not") {
      negate_next = true;
      continue;
    }
    if (a == "-f") a = "--follow";
    if (a.rfind("--", 0) != 0) return Error{"unexpected argument '" + a + "' (see myelin observe --help)"};
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto take = [&]() -> Result<std::string> {
      if (has_value) return value;
      if (i + 1 >= args.size()) return Error{"--" + name + " needs a value"};
      return args[++i];
    };
    if (name == "all" || name == "follow") {
      if (name == "all") req.set_all(true);
      else req.set_follow(true);
      continue;
    }
    if (name == "last" || name == "first") {
      auto v = take();
      if (!v) return v.error();
      auto n = parse_u32("--" + name, *v);
      if (!n || *n == 0) return Error{"--" + name + " needs a positive number, not '" + *v + "'"};
      req.set_number(*n);
      req.set_first(name == "first");
      continue;
    }
    if (name == "since" || name == "until") {
      auto v = take();
      if (!v) return v.error();
      auto t = parse_time(*v, now);
      if (!t) return Error{"--" + name + ": " + t.error().message};
      *(name == "since" ? req.mutable_since() : req.mutable_until()) = *t;
      continue;
    }
    Filters& group = negate_next ? deny : allow;
    negate_next = false;
    Side side = Side::none;
    std::string field = name;
    if (name.rfind("from-", 0) == 0) side = Side::source, field = name.substr(5);
    else if (name.rfind("to-", 0) == 0) side = Side::destination, field = name.substr(3);
    if (auto sf = sided_fields().find(field); sf != sided_fields().end()) {
      auto v = take();
      if (!v) return v.error();
      Status s;
      if (side == Side::source) s = sf->second.source(group.src, *v), group.has_src = true;
      else if (side == Side::destination) s = sf->second.destination(group.dst, *v), group.has_dst = true;
      else {
        s = sf->second.source(group.either_src, *v);
        if (s) s = sf->second.destination(group.either_dst, *v);
        group.has_either = true;
      }
      if (!s) {
        // Name the flag as typed (--to-port, not --port).
        std::string msg = s.error().message;
        if (msg.rfind("--" + field + ":", 0) == 0) msg = "--" + name + msg.substr(2 + field.size());
        return Error{msg};
      }
      continue;
    }
    if (side == Side::none) {
      if (auto cf = common_fields().find(name); cf != common_fields().end()) {
        auto v = take();
        if (!v) return v.error();
        if (auto s = cf->second(group.common, *v); !s) return s.error();
        group.has_common = true;
        continue;
      }
    }
    return Error{"unknown flag --" + name + " (see myelin observe --help)"};
  }
  if (negate_next) return Error{"--not must be followed by a filter flag"};
  for (auto& f : allow.compile()) *req.add_whitelist() = f;
  for (auto& f : deny.compile()) *req.add_blacklist() = f;
  return req;
}

std::string observe_help() {
  return "Usage: myelin observe [flags]\n\n"
         "Shows flows recorded by the agent (newest last); filtering happens in the agent.\n\n"
         "Selection:\n"
         "  --last N | --first N | --all      how many (default: the last 20)\n"
         "  --follow, -f                      keep streaming new flows\n"
         "  --since T, --until T              RFC 3339 time, or relative: 30s, 5m, 2h, 1d\n"
         "Filters (repeat a flag to OR its values; different flags AND; --not FLAG negates one):\n"
         "  --pod [NS/]POD   --from-pod   --to-pod        pod name prefix (namespace 'default' without NS/)\n"
         "  --namespace NS   --from-namespace --to-namespace\n"
         "  --service [NS/]SVC --from-service --to-service   Service name prefix: flows translated to it (to) or\n"
         "                                    replies translated back from it (from); namespace 'default' without NS/\n"
         "  --ip IP|CIDR     --from-ip    --to-ip\n"
         "  --label k=v[,k2] --from-label --to-label\n"
         "  --identity N     --from-identity --to-identity\n"
         "  --port N         --from-port  --to-port\n"
         "  --verdict FORWARDED|DROPPED|AUDIT|ERROR   --drop-reason-desc NAME (e.g. INVALID_SOURCE_IP)\n"
         "  --protocol tcp|udp|icmp|sctp   --type trace|drop|policy-verdict   --traffic-direction ingress|egress\n"
         "  --tcp-flags SYN[,ACK]   --reply true|false   --node-name GLOB   --uuid UUID\n"
         "Output:\n"
         "  -o, --output compact|json|dict|table   (json: one Hubble GetFlowsResponse per line)\n"
         "  --socket PATH                           agent socket (default /var/run/myelin/myelin.sock)\n";
}

}  // namespace myelin::cli
