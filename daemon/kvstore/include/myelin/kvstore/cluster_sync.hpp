// SPDX-License-Identifier: Apache-2.0
// ClusterSync: this node in etcd, and the other nodes from it.
//
//   publisher (its own thread): this node's record (nodes/<node>) and its
//     endpoints (endpoints/<ip>) under the session's lease; woken by
//     endpoints_changed(), a new lease and a store change that took one of
//     its keys, it compares what is desired with what it wrote and writes
//     the difference; every second it looks for a new lease of a shared
//     session (nothing is computed then). A new
//     lease (the old one expired while the store was away) writes them all
//     again; the first pass under a lease also deletes this node's endpoint
//     records no longer desired (pods removed while the agent was down).
//     Failed writes are retried with a backoff up to 5 s, never given up.
//   watchers (etcd.hpp's Watcher, list then watch): nodes/ and endpoints/
//     into cluster::ClusterState as Source::etcd, synced once both listed.
//     A record that does not decode is counted and kept out (status says
//     which key and why). Our own keys deleted behind our back (lease
//     expired, an operator) are written again.
//
// The store unreachable, at start or later, is never an error of start():
// ClusterState keeps what it had (the datapath keeps working on it), the
// stats say why it is degraded, and both sides converge when it answers.
// Stopping revokes nothing and deletes nothing (etcd.hpp: a restart drops
// no record; the agent's absence shows after the lease TTL).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "myelin/cluster/cluster_state.hpp"
#include "myelin/kvstore/etcd.hpp"

namespace myelin::kvstore {

struct ClusterSyncOptions {
  std::string cluster = "default";
  cluster::Node node;  // this node's record: name, ip, pod_cidrs
  std::chrono::seconds lease_ttl{60};
  // This node's endpoints as they are now (node is set to ours). Called on
  // the publisher's thread with no lock of ClusterSync's held.
  std::function<std::vector<cluster::RemoteEndpoint>()> local_endpoints;
  // A session the agent shares (the identities' references live under the
  // same lease); its lease is read on every pass. Null: ClusterSync opens
  // its own (retrying while the store is unreachable).
  Session* session = nullptr;
  std::chrono::milliseconds retry{250};   // first backoff after a failure, doubled up to max_retry
  std::chrono::milliseconds max_retry{5000};
  std::chrono::milliseconds resync{1000};  // the publisher's idle check of the session's lease
  std::chrono::milliseconds min_gap{20};   // between two passes: a burst of changes is one pass
};

struct SyncStats {
  std::string endpoint;            // the etcd endpoint in use
  bool reachable = false;          // the last request reached a server
  bool session = false;            // a lease is held and its last keep-alive succeeded
  int64_t lease = 0;               // what the records are written under (0: none yet)
  uint64_t leases = 0;             // leases written under since start (1 + re-grants)
  bool published = false;          // everything desired is in the store under `lease`
  size_t node_records = 0, endpoint_records = 0;  // written under `lease`
  bool nodes_watch = false, endpoints_watch = false;  // watch streams connected
  bool synced = false;             // both prefixes listed once
  size_t remote_nodes = 0, remote_endpoints = 0;    // Source::etcd in ClusterState, this node excluded
  uint64_t puts = 0, deletes = 0;
  uint64_t write_errors = 0, session_errors = 0, decode_errors = 0;
  std::string last_error;          // the last failure, with what failed
  std::chrono::system_clock::time_point last_error_at{};
  std::vector<std::string> refused;  // records that do not decode now: "endpoints/10.0.0.1: identity: ..."
};

// Empty when healthy; otherwise why the cluster view may be stale, e.g.
// "etcd http://10.0.0.1:2379 unreachable: ...; the datapath keeps the cluster state it had".
std::string degraded_reason(const SyncStats& s);

class ClusterSync {
 public:
  ClusterSync(Etcd& etcd, cluster::ClusterState& state, ClusterSyncOptions o);
  ~ClusterSync();  // stop()
  ClusterSync(const ClusterSync&) = delete;
  ClusterSync& operator=(const ClusterSync&) = delete;

  // Starts the publisher and the watchers; does not wait for the store.
  void start();
  void stop();
  // Any thread, cheap: the publisher compares and writes soon.
  void endpoints_changed();
  // A shared session got a new lease (its owner's on_new_lease): write
  // everything again now rather than at the next idle pass.
  void lease_changed();
  SyncStats stats() const;

 private:
  void run();
  int64_t published_lease() const;
  bool pass();  // false: something failed (retry with backoff)
  bool cleanup(int64_t lease, const std::map<std::string, std::string>& desired);
  void wake();
  void failed(std::atomic<uint64_t>& counter, const std::string& what);
  void forget_published(const std::string& key);  // it left the store: write it again if still desired
  void on_nodes_relist(std::vector<KeyValue> all);
  void on_nodes_event(const WatchEvent& ev);
  void on_endpoints_relist(std::vector<KeyValue> all);
  void on_endpoints_event(const WatchEvent& ev);
  void refuse(const std::string& key, const std::string& why);
  void accept(const std::string& key);
  void listed(bool nodes);

  Etcd& etcd_;
  cluster::ClusterState& state_;
  const ClusterSyncOptions o_;
  const std::string nodes_prefix_, endpoints_prefix_;

  std::mutex mu_;  // the publisher's wake-up
  std::condition_variable cv_;
  bool dirty_ = true, stopping_ = false;
  std::thread thread_;

  std::unique_ptr<Session> own_session_;  // publisher thread only
  Session* session_ = nullptr;            // publisher thread only

  mutable std::mutex pub_mu_;  // what the publisher wrote under which lease (watchers read it)
  std::map<std::string, std::string> published_;  // key -> value
  int64_t published_lease_ = 0;
  bool need_cleanup_ = false;
  bool all_published_ = false;
  uint64_t leases_ = 0;

  mutable std::mutex stats_mu_;
  std::string last_error_;
  std::chrono::system_clock::time_point last_error_at_{};
  std::map<std::string, std::string> refused_;  // key -> why
  bool nodes_listed_ = false, endpoints_listed_ = false;
  std::atomic<uint64_t> puts_{0}, deletes_{0}, write_errors_{0}, session_errors_{0}, decode_errors_{0};
  std::atomic<bool> nodes_watch_{false}, endpoints_watch_{false}, session_alive_{false};

  std::unique_ptr<Watcher> nodes_watcher_, endpoints_watcher_;
};

}  // namespace myelin::kvstore
