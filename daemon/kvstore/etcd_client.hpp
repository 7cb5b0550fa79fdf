// SPDX-License-Identifier: Apache-2.0
// The gRPC implementation of kvstore::Etcd (private to myelin_kvstore): one
// channel per endpoint, requests on the endpoint that answered last and on
// the next ones while it is unreachable. Session and Watcher use it
// directly for the Lease and Watch streams.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "myelin/kvstore/etcd.hpp"

namespace myelin::kvstore {

// [prefix, prefix_end(prefix)) is every key under the prefix (etcd's rule).
std::string prefix_end(const std::string& prefix);

class EtcdClient final : public Etcd {
 public:
  struct Endpoint {
    std::string url;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Lease::Stub> lease;
    std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  };
  EtcdClient(EtcdOptions o, std::vector<Endpoint> eps) : opts_(std::move(o)), eps_(std::move(eps)) {}

  Result<std::optional<KeyValue>> get(const std::string& key) override;
  Result<std::pair<std::vector<KeyValue>, int64_t>> list(const std::string& prefix) override;
  Status put(const std::string& key, const std::string& value, int64_t lease) override;
  Result<bool> create(const std::string& key, const std::string& value, int64_t lease) override;
  Result<bool> update_if(const std::string& key, int64_t mod_revision, const std::string& value, int64_t lease) override;
  Result<bool> delete_if(const std::string& key, int64_t mod_revision) override;
  Result<bool> delete_if_unreferenced(const std::string& key, int64_t mod_revision, const std::string& unless_prefix) override;
  Status del(const std::string& key) override;
  Result<int64_t> grant(std::chrono::seconds ttl) override;
  Status revoke(int64_t lease) override;
  Result<int64_t> keepalive(int64_t lease) override;
  bool reachable() const override { return reachable_.load(); }
  std::string endpoint() const override { return eps_[cur_.load()].url; }

  // The endpoint requests go to now (Watcher opens its stream there).
  const Endpoint& current() const { return eps_[cur_.load()]; }
  // A fresh context with the request deadline (0: none, for streams).
  std::unique_ptr<grpc::ClientContext> context(bool deadline = true) const;
  // Runs call(endpoint, context) on the current endpoint and, while the
  // answer is "unreachable", on the others in turn; the one that answers
  // becomes current. Records reachable().
  template <typename F>
  grpc::Status call(F&& f);
  Error error(const std::string& what, const grpc::Status& s) const;
  void set_reachable(bool r) { reachable_.store(r); }

 private:
  Result<bool> txn(const std::string& what, etcdserverpb::TxnRequest& req);
  EtcdOptions opts_;
  std::vector<Endpoint> eps_;
  std::atomic<size_t> cur_{0};
  std::atomic<bool> reachable_{false};
};

template <typename F>
grpc::Status EtcdClient::call(F&& f) {
  size_t start = cur_.load();
  grpc::Status s;
  for (size_t i = 0; i < eps_.size(); ++i) {
    size_t idx = (start + i) % eps_.size();
    auto ctx = context();
    s = f(eps_[idx], *ctx);
    // UNAVAILABLE: no connection, or the member has no leader; DEADLINE_EXCEEDED:
    // it did not answer in time. Both say "try another member"; the others
    // are answers (a real error or success) from a member that works.
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE && s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      cur_.store(idx);
      reachable_.store(true);
      return s;
    }
  }
  reachable_.store(false);
  return s;
}

}  // namespace myelin::kvstore
