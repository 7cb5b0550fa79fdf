// SPDX-License-Identifier: Apache-2.0
#include "nodeport/devices.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace myelin::nodeport {

std::vector<std::string> default_route_devices(const std::string& text) {
  // Iface Destination Gateway Flags RefCnt Use Metric Mask ... (hex, network order)
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string iface, dest, gw, flags, refcnt, use, metric, mask;
    if (!(f >> iface >> dest >> gw >> flags >> refcnt >> use >> metric >> mask)) continue;
    unsigned long fl = std::strtoul(flags.c_str(), nullptr, 16);
    if (dest != "00000000" || mask != "00000000" || !(fl & 0x1 /* RTF_UP */)) continue;
    if (std::find(out.begin(), out.end(), iface) == out.end()) out.push_back(iface);
  }
  return out;
}

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  return out;
}

}  // namespace

Result<std::vector<Device>> resolve_devices(const std::string& spec) {
  std::vector<std::string> names;
  if (spec.empty()) {
    // /proc/self/net is this process's network namespace: the node's.
    std::ifstream f("/proc/self/net/route");
    if (!f) return Error::from_errno("read /proc/self/net/route");
    std::stringstream ss;
    ss << f.rdbuf();
    names = default_route_devices(ss.str());
  } else {
    names = split(spec);
  }
  ifaddrs* ifa = nullptr;
  if (getifaddrs(&ifa) != 0) return Error::from_errno("list the interfaces' addresses");
  std::vector<Device> out;
  for (const auto& n : names) {
    Device d;
    d.name = n;
    d.ifindex = static_cast<int>(if_nametoindex(n.c_str()));
    if (!d.ifindex) {
      freeifaddrs(ifa);
      return Error{"--devices: no device " + n + " in this network namespace"};
    }
    for (ifaddrs* a = ifa; a; a = a->ifa_next) {
      if (n != a->ifa_name) continue;
      if (a->ifa_flags & IFF_LOOPBACK) {  // every entry of the device carries its flags
        freeifaddrs(ifa);
        return Error{"--devices: " + n + " is a loopback device, not one clients outside reach the node by"};
      }
      if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET)
        d.addrs.push_back(net::Ipv4{ntohl(reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr)});
    }
    out.push_back(std::move(d));
  }
  freeifaddrs(ifa);
  return out;
}

Result<PortRange> parse_port_range(const std::string& text) {
  const Error bad{"--node-port-range must be MIN-MAX with 1 <= MIN <= MAX <= 65535 (e.g. 30000-32767), not '" + text + "'"};
  auto dash = text.find('-');
  if (dash == std::string::npos) return bad;
  auto num = [](const std::string& s) -> long {
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
    return std::stol(s);
  };
  long lo = num(text.substr(0, dash)), hi = num(text.substr(dash + 1));
  if (lo < 1 || hi < lo || hi > 65535) return bad;
  return PortRange{static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)};
}

}  // namespace myelin::nodeport
