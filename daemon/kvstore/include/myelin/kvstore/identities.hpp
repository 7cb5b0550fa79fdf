// SPDX-License-Identifier: Apache-2.0
// EtcdIdentities: the cluster's security identities in etcd (keys in
// etcd.hpp): one number per label set on every node.
//  - allocation: the lowest number not taken, claimed by create (CAS on
//    identities/id/<id>); a node that loses the race reads the winner's
//    labels and moves up, so nodes allocating the same labels at once meet
//    on one number. Should two numbers still get the same labels (a cache
//    that missed a deletion), the older one (lower create_revision) wins and
//    the newer one is withdrawn before anyone is told about it.
//  - references: identities/ref/<id>/<node> under this node's session lease,
//    one key per id however many local endpoints use it (counted here); a
//    crashed node's references expire with its lease.
//  - garbage collection: every gc_interval the references are listed; an id
//    without references for `gc_grace` (in those lists) is deleted in one Txn that also requires that
//    no reference exists then (delete_if_unreferenced); an acquire that put
//    its reference checks the id is still there afterwards.
//  - list()/labels(): every node's identities, kept by a Watcher on
//    identities/id/ (not ref/: one event per endpoint on every node); on_change when another node's identity came or went.
// The numbers live in etcd without a lease: a restart gets the same ones.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "myelin/identity/identity_allocator.hpp"
#include "myelin/kvstore/etcd.hpp"

namespace myelin::kvstore {

struct EtcdIdentitiesOptions {
  std::string cluster = "default";
  std::string node;  // this node's name (its reference keys)
  uint32_t first = identity::kFirstAllocated;
  uint32_t last = identity::kLastClusterIdentity;  // inclusive: the VNI's 24 bits
  std::chrono::milliseconds gc_grace{std::chrono::minutes(10)};
  // How often the background thread collects garbage and writes references
  // that could not be written when the store was unreachable.
  std::chrono::milliseconds gc_interval{std::chrono::minutes(1)};
};

class EtcdIdentities final : public identity::Identities {
 public:
  // References are written under session.lease(); when the session gets a
  // new lease, its owner calls write_references(new lease) (from Session's
  // on_new_lease). etcd and session outlive this object.
  static Result<std::unique_ptr<EtcdIdentities>> open(Etcd& etcd, Session& session, EtcdIdentitiesOptions o);
  ~EtcdIdentities() override;

  // Store unreachable: an id this node already knows (its watcher's copy)
  // is returned and its reference written when the store answers; an
  // unknown label set is an error (never a number only this node knows).
  Result<uint32_t> acquire(const std::vector<std::string>& labels) override;
  Status release(uint32_t id) override;
  std::optional<std::vector<std::string>> labels(uint32_t id) const override;
  std::map<uint32_t, std::vector<std::string>> list() const override;
  void on_change(std::function<void()> fn) override;

  // Writes every reference this node holds under `lease` (a new session
  // lease), re-creating an id that was collected meanwhile with its number.
  Status write_references(int64_t lease);
  // One garbage-collection pass now; the number of ids deleted.
  Result<size_t> collect_garbage();
  bool synced() const;  // the watcher's first list arrived
  size_t pending_references() const;

 private:
  EtcdIdentities(Etcd& etcd, Session& session, EtcdIdentitiesOptions o);
  struct Id {
    std::vector<std::string> labels;
    int64_t create_revision = 0, mod_revision = 0;
  };
  std::string id_key(uint32_t id) const;
  std::string ref_key(uint32_t id) const;
  std::string ref_prefix(uint32_t id) const;
  // Watcher side (under mu_).
  void apply(const KeyValue& kv, bool deleted);
  // acquire's steps (under alloc_mu_).
  Result<uint32_t> find_or_allocate(const std::vector<std::string>& labels);
  Status put_reference(uint32_t id, const std::vector<std::string>& labels);
  // For a number already handed out: its reference under `lease`, and the id
  // again with the same number if it was collected meanwhile.
  Status restore_reference(uint32_t id, const std::vector<std::string>& labels, int64_t lease);
  void run();

  Etcd& etcd_;
  Session& session_;
  EtcdIdentitiesOptions o_;
  std::string prefix_;  // <key_prefix>identities/

  mutable std::mutex mu_;  // the cluster's view (the watcher's thread writes it)
  std::map<uint32_t, Id> ids_;
  std::map<std::vector<std::string>, std::set<uint32_t>> by_labels_;
  std::map<uint32_t, std::set<std::string>> refs_;  // id -> nodes, as the last collection listed them
  std::map<uint32_t, std::chrono::steady_clock::time_point> unreferenced_since_;
  bool synced_ = false;
  // Ids this node just created: their watch event is not another node's change.
  std::map<uint32_t, std::vector<std::string>> own_created_;
  std::function<void()> on_change_;

  mutable std::mutex alloc_mu_;         // acquire/release/write_references, one at a time
  std::map<uint32_t, uint32_t> local_;  // this node's references: id -> endpoints using it
  std::map<uint32_t, std::vector<std::string>> local_labels_;
  std::set<uint32_t> pending_;  // references not written yet (store unreachable)

  std::unique_ptr<Watcher> watcher_;
  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace myelin::kvstore
