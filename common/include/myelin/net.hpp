// SPDX-License-Identifier: Apache-2.0
// Address helpers: IPv4 and CIDR parsing/formatting, MAC text form, and the
// conversion to the datapath's 16-byte tagged address (abi/common.h).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "myelin/abi/common.h"
#include "myelin/result.hpp"

namespace myelin::net {

// IPv4 address in host byte order.
struct Ipv4 {
  uint32_t host = 0;
  bool operator==(const Ipv4&) const = default;
  auto operator<=>(const Ipv4&) const = default;
  std::string str() const;
  uint32_t network_order() const;
};

Result<Ipv4> parse_ipv4(const std::string& text);

struct Cidr4 {
  Ipv4 base;          // masked network address
  uint8_t prefix = 0;
  std::string str() const;
  bool contains(Ipv4 ip) const;
  uint64_t size() const { return uint64_t{1} << (32 - prefix); }
};

// "10.244.1.0/24"; the address must be the network address.
Result<Cidr4> parse_cidr4(const std::string& text);

using Mac = std::array<uint8_t, 6>;
std::string mac_str(const uint8_t* mac);
Result<Mac> parse_mac(const std::string& text);

// The datapath key form of an address: v4 in w[0], network order.
myelin_addr to_addr(Ipv4 ip);
// Formats a tagged datapath address ("10.0.0.1", or IPv6 text).
std::string addr_str(const myelin_addr& a, uint8_t family);

}  // namespace myelin::net
