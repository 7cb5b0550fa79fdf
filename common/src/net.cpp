// SPDX-License-Identifier: Apache-2.0
#include "myelin/net.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace myelin::net {

std::string Ipv4::str() const {
  char buf[INET_ADDRSTRLEN];
  uint32_t n = htonl(host);
  inet_ntop(AF_INET, &n, buf, sizeof buf);
  return buf;
}

uint32_t Ipv4::network_order() const { return htonl(host); }

Result<Ipv4> parse_ipv4(const std::string& text) {
  in_addr a{};
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) return Error{"'" + text + "' is not an IPv4 address"};
  return Ipv4{ntohl(a.s_addr)};
}

std::string Cidr4::str() const { return base.str() + "/" + std::to_string(prefix); }

bool Cidr4::contains(Ipv4 ip) const {
  if (prefix == 0) return true;
  uint32_t mask = prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1);
  return (ip.host & mask) == base.host;
}

Result<Cidr4> parse_cidr4(const std::string& text) {
  auto slash = text.find('/');
  if (slash == std::string::npos) return Error{"'" + text + "' is not a CIDR (expected a.b.c.d/len)"};
  auto ip = parse_ipv4(text.substr(0, slash));
  if (!ip) return ip.error();
  std::string len = text.substr(slash + 1);
  if (len.empty() || len.size() > 2 || len.find_first_not_of("0123456789") != std::string::npos)
    return Error{"'" + text + "': bad prefix length"};
  int p = std::stoi(len);
  if (p > 32) return Error{"'" + text + "': prefix length above 32"};
  uint32_t mask = p == 0 ? 0 : (p >= 32 ? 0xffffffffu : ~((1u << (32 - p)) - 1));
  if ((ip->host & mask) != ip->host)
    return Error{"'" + text + "' has host bits set (did you mean " + Ipv4{ip->host & mask}.str() + "/" + len + "?)"};
  return Cidr4{*ip, static_cast<uint8_t>(p)};
}

std::string mac_str(const uint8_t* m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

Result<Mac> parse_mac(const std::string& text) {
  Mac m{};
  unsigned v[6];
  char tail;
  if (std::sscanf(text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
    return Error{"'" + text + "' is not a MAC address"};
  for (int i = 0; i < 6; ++i) m[i] = static_cast<uint8_t>(v[i]);
  return m;
}

myelin_addr to_addr(Ipv4 ip) {
  myelin_addr a{};
  a.w[0] = ip.network_order();
  return a;
}

std::string addr_str(const myelin_addr& a, uint8_t family) {
  char buf[INET6_ADDRSTRLEN];
  if (family == MYELIN_FAMILY_IPV6) {
    inet_ntop(AF_INET6, a.w, buf, sizeof buf);
    return buf;
  }
  if (family == MYELIN_FAMILY_IPV4) {
    inet_ntop(AF_INET, &a.w[0], buf, sizeof buf);
    return buf;
  }
  return "";
}

}  // namespace myelin::net
