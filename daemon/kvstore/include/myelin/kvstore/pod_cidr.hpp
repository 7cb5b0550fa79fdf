// SPDX-License-Identifier: Apache-2.0
// --ipam cluster-pool: each node claims one pod CIDR of `mask` bits out of
// the cluster's pool, atomically, in etcd (podcidrs/<a.b.c.d>_<len> ->
// "<node>", created only if absent, no lease), and finds the same one again
// after a restart.
#pragma once

#include <string>

#include "myelin/kvstore/etcd.hpp"

namespace myelin::kvstore {

// The node's CIDR in the pool ("10.244.3.0/24"): its existing claim, or the
// lowest free one claimed now. Errors: a bad pool or mask, the pool full,
// the store unreachable (the caller retries; there is no local fallback:
// two nodes must never use one CIDR).
Result<std::string> claim_pod_cidr(Etcd& etcd, const std::string& cluster, const std::string& node, const std::string& pool,
                                   int mask);

// Gives a node's claim back (a node removed for good). Only if the claim is
// still that node's.
Status release_pod_cidr(Etcd& etcd, const std::string& cluster, const std::string& node, const std::string& cidr);

}  // namespace myelin::kvstore
