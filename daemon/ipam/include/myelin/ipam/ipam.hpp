// SPDX-License-Identifier: Apache-2.0
// daemon/ipam (myelin_ipam): pod addresses from the node's pod CIDR, kept in the state dir.
// Ipam: hands out pod addresses from the node's pod CIDR, one per owner
// ("<container id>/<ifname>"), persisted so a restarted agent never hands
// out an address that is still in use.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "myelin/net.hpp"
#include "myelin/result.hpp"

namespace myelin::ipam {

class Ipam {
 public:
  static Result<std::unique_ptr<Ipam>> open(const net::Cidr4& cidr, const std::string& state_file);
  Result<net::Ipv4> allocate(const std::string& owner);  // exhausted: Error code ENOSPC
  Status release(const std::string& owner);
  std::optional<net::Ipv4> lookup(const std::string& owner) const;
  std::map<std::string, net::Ipv4> allocations() const;
  uint64_t used() const;
  uint64_t capacity() const;
  const net::Cidr4& cidr() const { return cidr_; }

 private:
  Ipam(net::Cidr4 cidr, std::string file) : cidr_(cidr), file_(std::move(file)) {}
  Status save() const;
  bool usable(net::Ipv4 ip) const;

  net::Cidr4 cidr_;
  std::string file_;
  mutable std::mutex mu_;
  std::map<std::string, net::Ipv4> by_owner_;
  std::map<net::Ipv4, std::string> by_ip_;
  uint32_t next_ = 0;  // where the next search starts: addresses are not reused right away
};

}  // namespace myelin::ipam
