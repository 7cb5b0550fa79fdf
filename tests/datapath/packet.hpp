// SPDX-License-Identifier: Apache-2.0
// A small builder of crafted packets for BPF_PROG_TEST_RUN: Ethernet, ARP,
// IPv4 (with options, fragments, bad fields), TCP, UDP, ICMP, and cuts.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace myelin::test {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

inline uint32_t ip4(const char* s) {
  in_addr a{};
  inet_pton(AF_INET, s, &a);
  return a.s_addr;  // network order
}

struct Packet {
  Mac src_mac{0x02, 0, 0, 0, 0, 0xaa}, dst_mac{0x02, 0, 0, 0, 0, 0xbb};
  uint16_t eth_proto = 0x0800;
  // IPv4
  uint32_t saddr = ip4("10.0.0.1"), daddr = ip4("10.0.0.2");
  uint8_t proto = 6, ttl = 64, version = 4, ihl = 5;
  uint16_t ip_id = 1, frag_off = 0;  // host order, flags + offset
  int tot_len_delta = 0;             // added to the real total length
  std::vector<uint8_t> ip_options;   // appended after the 20-byte header
  // L4
  uint16_t sport = 40000, dport = 80;
  uint8_t tcp_flags = 0x02, tcp_doff = 5;
  uint8_t icmp_type = 8, icmp_code = 0;
  uint16_t icmp_id = 77;
  Bytes icmp_data;  // after the 8-byte ICMP header: an error's quoted datagram (see quote())
  size_t payload = 0;

  Bytes l4() const {
    Bytes b;
    if (proto == 6) {
      b.resize(20 + payload);
      uint16_t sp = htons(sport), dp = htons(dport);
      std::memcpy(&b[0], &sp, 2);
      std::memcpy(&b[2], &dp, 2);
      b[12] = static_cast<uint8_t>(tcp_doff << 4);
      b[13] = tcp_flags;
    } else if (proto == 17 || proto == 132) {  // UDP, or SCTP's 12-byte common header
      b.resize((proto == 17 ? 8 : 12) + payload);
      uint16_t sp = htons(sport), dp = htons(dport), len = htons(static_cast<uint16_t>(8 + payload));
      std::memcpy(&b[0], &sp, 2);
      std::memcpy(&b[2], &dp, 2);
      std::memcpy(&b[4], &len, 2);
    } else if (proto == 1) {
      b.resize(8);
      b[0] = icmp_type;
      b[1] = icmp_code;
      uint16_t id = htons(icmp_id);
      std::memcpy(&b[4], &id, 2);
      b.insert(b.end(), icmp_data.begin(), icmp_data.end());
      b.resize(b.size() + payload);
    } else {
      b.resize(8 + payload);
    }
    return b;
  }

  Bytes build() const {
    Bytes b(14);
    std::memcpy(&b[0], dst_mac.data(), 6);
    std::memcpy(&b[6], src_mac.data(), 6);
    b[12] = static_cast<uint8_t>(eth_proto >> 8);
    b[13] = static_cast<uint8_t>(eth_proto);
    if (eth_proto != 0x0800) {
      b.resize(60);  // minimum frame
      return b;
    }
    Bytes l4b = l4();
    size_t hlen = 20 + ip_options.size();
    Bytes ip(hlen);
    ip[0] = static_cast<uint8_t>((version << 4) | (ihl & 0x0f));
    uint16_t tot = htons(static_cast<uint16_t>(static_cast<int>(hlen + l4b.size()) + tot_len_delta));
    std::memcpy(&ip[2], &tot, 2);
    uint16_t id = htons(ip_id), fo = htons(frag_off);
    std::memcpy(&ip[4], &id, 2);
    std::memcpy(&ip[6], &fo, 2);
    ip[8] = ttl;
    ip[9] = proto;
    std::memcpy(&ip[12], &saddr, 4);
    std::memcpy(&ip[16], &daddr, 4);
    std::copy(ip_options.begin(), ip_options.end(), ip.begin() + 20);
    b.insert(b.end(), ip.begin(), ip.end());
    b.insert(b.end(), l4b.begin(), l4b.end());
    return b;
  }
};

// An ARP request "who has tpa? tell spa".
inline Bytes arp_request(const Mac& sha, uint32_t spa, uint32_t tpa) {
  Bytes b(42);
  std::memset(&b[0], 0xff, 6);
  std::memcpy(&b[6], sha.data(), 6);
  b[12] = 0x08, b[13] = 0x06;
  b[14] = 0, b[15] = 1;        // htype ethernet
  b[16] = 0x08, b[17] = 0x00;  // ptype IPv4
  b[18] = 6, b[19] = 4;
  b[20] = 0, b[21] = 1;        // request
  std::memcpy(&b[22], sha.data(), 6);
  std::memcpy(&b[28], &spa, 4);
  std::memcpy(&b[38], &tpa, 4);
  return b;
}

inline Bytes cut(Bytes b, size_t n) {
  b.resize(std::min(n, b.size()));
  return b;
}

// What an ICMP error quotes of the datagram it is about: its IP header and
// the first `l4_bytes` of what follows (RFC 792: 8), Ethernet stripped.
inline Bytes quote(const Packet& inner, size_t l4_bytes = 8) {
  Bytes b = inner.build();
  b.erase(b.begin(), b.begin() + 14);
  b.resize(std::min(b.size(), 20 + inner.ip_options.size() + l4_bytes));
  return b;
}

}  // namespace myelin::test
