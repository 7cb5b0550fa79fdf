// SPDX-License-Identifier: Apache-2.0
// A socket as Tetragon's sock_arg shows it, from the tuple the kernel read.
#pragma once

#include <arpa/inet.h>

#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "myelin/abi/common.h"

namespace myelin::runtime {

inline nlohmann::json sock_arg(const myelin_sock_tuple& t, uint64_t cookie) {
  char s[INET6_ADDRSTRLEN] = {}, d[INET6_ADDRSTRLEN] = {};
  const int af = t.family == 10 ? AF_INET6 : AF_INET;
  inet_ntop(af, t.saddr, s, sizeof s);
  inet_ntop(af, t.daddr, d, sizeof d);
  static const char* states[] = {"", "TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_FIN_WAIT1", "TCP_FIN_WAIT2",
                                 "TCP_TIME_WAIT", "TCP_CLOSE", "TCP_CLOSE_WAIT", "TCP_LAST_ACK", "TCP_LISTEN", "TCP_CLOSING"};
  const std::string protocol = t.protocol == 6 ? "IPPROTO_TCP" : t.protocol == 17 ? "IPPROTO_UDP" : std::to_string(t.protocol);
  const std::string type = t.type == 1 ? "SOCK_STREAM" : t.type == 2 ? "SOCK_DGRAM" : t.type == 3 ? "SOCK_RAW" : std::to_string(t.type);
  nlohmann::json j{{"family", af == AF_INET6 ? "AF_INET6" : "AF_INET"}, {"type", type}, {"protocol", protocol}, {"saddr", s},
                   {"daddr", d}, {"sport", t.sport}, {"dport", t.dport}, {"cookie", std::to_string(cookie)}};
  if (t.protocol == 6) j["state"] = t.state < std::size(states) ? states[t.state] : std::to_string(t.state);
  return j;
}

}  // namespace myelin::runtime
