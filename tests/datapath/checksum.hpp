// SPDX-License-Identifier: Apache-2.0
// Checksums and fields of a crafted IPv4 frame (Ethernet at 0, IP at 14), for
// the tests of the programs that rewrite addresses and ports (NodePort,
// masquerade): fill them in before a run, verify them after.
#pragma once

#include <cstdint>
#include <cstring>

#include "packet.hpp"

namespace myelin::test {

inline uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}
inline uint32_t sum16(const uint8_t* p, size_t n, uint32_t s = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) s += (p[i] << 8) | p[i + 1];
  if (n & 1) s += p[n - 1] << 8;
  return s;
}
inline size_t l4_csum_off(uint8_t proto) { return proto == 6 ? 16 : proto == 17 ? 6 : 2; }
// The IPv4 header checksum and the L4 one (TCP/UDP with the pseudo header; ICMP without).
inline void fill_checksums(Bytes& b) {
  uint8_t* ip = &b[14];
  size_t hlen = (ip[0] & 0x0f) * 4, tot = (ip[2] << 8) | ip[3];
  ip[10] = ip[11] = 0;
  uint16_t c = fold(sum16(ip, hlen));
  ip[10] = c >> 8, ip[11] = c & 0xff;
  uint8_t* l4 = ip + hlen;
  size_t l4len = tot - hlen, off = l4_csum_off(ip[9]);
  l4[off] = l4[off + 1] = 0;
  uint32_t s = ip[9] == 1 ? 0 : sum16(ip + 12, 8) + ip[9] + static_cast<uint32_t>(l4len);
  c = fold(sum16(l4, l4len, s));
  if (ip[9] == 17 && c == 0) c = 0xffff;
  l4[off] = c >> 8, l4[off + 1] = c & 0xff;
}
// Whether both checksums of a frame verify (a UDP checksum of 0: none).
inline bool checksums_ok(const Bytes& b) {
  if (b.size() < 42) return false;
  const uint8_t* ip = &b[14];
  size_t hlen = (ip[0] & 0x0f) * 4, tot = (ip[2] << 8) | ip[3];
  if (fold(sum16(ip, hlen)) != 0) return false;
  const uint8_t* l4 = ip + hlen;
  size_t l4len = tot - hlen;
  if (ip[9] == 17 && l4[6] == 0 && l4[7] == 0) return true;
  uint32_t s = ip[9] == 1 ? 0 : sum16(ip + 12, 8) + ip[9] + static_cast<uint32_t>(l4len);
  return fold(sum16(l4, l4len, s)) == 0;
}
// checksums_ok for any bytes: false when the headers do not fit.
inline bool checksums_ok_safe(const Bytes& b) {
  if (b.size() < 34) return false;
  size_t hlen = (b[14] & 0x0f) * 4, tot = (b[16] << 8) | b[17];
  if (hlen < 20 || tot < hlen + 8 || 14 + tot > b.size()) return false;
  return checksums_ok(b);
}
inline uint32_t addr_at(const Bytes& b, size_t off) {
  uint32_t a;
  std::memcpy(&a, &b[off], 4);
  return a;
}
inline uint16_t port_at(const Bytes& b, size_t off) { return static_cast<uint16_t>((b[off] << 8) | b[off + 1]); }

}  // namespace myelin::test
