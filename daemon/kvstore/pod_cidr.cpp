// SPDX-License-Identifier: Apache-2.0
#include "myelin/kvstore/pod_cidr.hpp"

#include <set>

#include "myelin/net.hpp"

namespace myelin::kvstore {

namespace {

std::string claims_prefix(const std::string& cluster) { return key_prefix(cluster) + "podcidrs/"; }

// "10.244.3.0/24" <-> "10.244.3.0_24" (no '/' inside a key's last part).
std::string claim_key(const std::string& cluster, const net::Cidr4& c) {
  return claims_prefix(cluster) + c.base.str() + "_" + std::to_string(c.prefix);
}

std::optional<net::Cidr4> from_key(const std::string& prefix, const std::string& key) {
  std::string rest = key.substr(prefix.size());
  auto us = rest.rfind('_');
  if (us == std::string::npos) return std::nullopt;
  rest[us] = '/';
  auto c = net::parse_cidr4(rest);
  if (!c) return std::nullopt;
  return *c;
}

bool within(const net::Cidr4& pool, const net::Cidr4& c, int mask) {
  return c.prefix == mask && pool.contains(c.base);
}

}  // namespace

Result<std::string> claim_pod_cidr(Etcd& etcd, const std::string& cluster, const std::string& node, const std::string& pool_text,
                                   int mask) {
  auto pool = net::parse_cidr4(pool_text);
  if (!pool) return Error{"--cluster-pool-cidr: " + pool.error().message};
  if (mask < pool->prefix || mask > 30)
    return Error{"--cluster-pool-mask-size " + std::to_string(mask) + " must be from the pool's prefix length (" +
                 std::to_string(pool->prefix) + ") to 30"};
  if (mask - pool->prefix > 20)
    return Error{"--cluster-pool-mask-size " + std::to_string(mask) + " cuts " + pool_text + " into more than 2^20 node CIDRs"};
  if (node.empty()) return Error{"pod CIDR claim: the node name is empty"};

  const std::string prefix = claims_prefix(cluster);
  auto existing = etcd.list(prefix);
  if (!existing) return Error{"pod CIDR claim: " + existing.error().message};
  std::set<uint32_t> taken;
  std::optional<net::Cidr4> mine;
  for (const auto& kv : existing->first) {
    auto c = from_key(prefix, kv.key);
    if (!c || !within(*pool, *c, mask)) continue;  // another pool's or mask's claim: not in our way
    taken.insert(c->base.host);
    if (kv.value == node && (!mine || c->base.host < mine->base.host)) mine = *c;
  }
  if (mine) return mine->str();  // a restart: the same CIDR

  const uint64_t count = uint64_t{1} << (mask - pool->prefix);
  const uint64_t step = uint64_t{1} << (32 - mask);
  for (uint64_t i = 0; i < count; ++i) {
    net::Cidr4 c{net::Ipv4{static_cast<uint32_t>(pool->base.host + i * step)}, static_cast<uint8_t>(mask)};
    if (taken.count(c.base.host)) continue;
    auto created = etcd.create(claim_key(cluster, c), node);
    if (!created) return Error{"pod CIDR claim: " + created.error().message};
    if (*created) return c.str();
    // Taken since our list. It may be ours: a create that reached the store
    // but whose answer did not reach us, retried.
    auto g = etcd.get(claim_key(cluster, c));
    if (!g) return Error{"pod CIDR claim: " + g.error().message};
    if (g->has_value() && (*g)->value == node) return c.str();
  }
  return Error{"pod CIDR claim: every /" + std::to_string(mask) + " of " + pool_text + " is claimed (" + std::to_string(count) +
               " nodes); a larger --cluster-pool-cidr or --cluster-pool-mask-size is needed"};
}

Status release_pod_cidr(Etcd& etcd, const std::string& cluster, const std::string& node, const std::string& cidr) {
  auto c = net::parse_cidr4(cidr);
  if (!c) return c.error();
  const std::string key = claim_key(cluster, *c);
  auto g = etcd.get(key);
  if (!g) return g.error();
  if (!g->has_value() || (*g)->value != node) return {};
  auto d = etcd.delete_if(key, (*g)->mod_revision);
  if (!d) return d.error();
  return {};
}

}  // namespace myelin::kvstore
