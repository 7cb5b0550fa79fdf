// SPDX-License-Identifier: Apache-2.0
// KubeIdentities: security identities shared by the cluster through the
// Kubernetes API, as cluster-scoped MyelinIdentity objects
// (deploy/kubernetes/myelinidentity-crd.yaml), the way Cilium's CRD identity
// backend keeps CiliumIdentity objects:
//   * an object is named by its number and holds the security labels;
//   * acquire() of labels nobody has numbered creates one if absent: the
//     first number tried is a hash of the labels, so nodes numbering the same
//     labels at once try the same name, one create wins and the others get
//     409 AlreadyExists, read it back and use it (a name taken by other labels
//     moves on to the next number);
//   * when two numbers still got the same labels (a race past the hash), the
//     oldest object (creationTimestamp, then the lower number) is the one
//     handed out; both stay valid for the endpoints that hold them;
//   * while this node holds a reference, it renews the annotation
//     myelin.io/heartbeat (skipped when another node renewed it recently);
//     every node deletes objects whose heartbeat is older than the GC timeout
//     and that it does not use, on a resourceVersion precondition, so a
//     renewal that lands first wins (409 Conflict: kept);
//   * this node's references are kept in a state file: after a restart the
//     restored endpoints' identities are renewed again, and an object deleted
//     meanwhile is created again under the same number.
// Label sets that are not pod labels (cidr:, reserved:) are node-local
// identities, numbered from identity::kFirstLocalIdentity in a state file of
// their own, as the contract says.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "myelin/identity/identity_allocator.hpp"
#include "myelin/kube/client.hpp"
#include "myelin/kube/reflector.hpp"

namespace myelin::kube {

inline constexpr const char* kHeartbeatAnnotation = "myelin.io/heartbeat";
extern const Resource kMyelinIdentities;  // /apis/myelin.io/v1alpha1/myelinidentities

struct KubeIdentitiesOptions {
  std::string node;                 // this node, for messages
  std::string refs_file;            // this node's references (state dir)
  std::string local_file;           // node-local identities (state dir)
  uint32_t first = identity::kFirstAllocated, last = 65535;  // the cluster's numbers, inclusive
  std::chrono::milliseconds heartbeat_interval = std::chrono::minutes(1);
  std::chrono::milliseconds gc_timeout = std::chrono::minutes(15);  // no heartbeat for this long: garbage
  std::chrono::milliseconds gc_interval = std::chrono::minutes(1);
  std::chrono::milliseconds sync_timeout = std::chrono::seconds(30);  // acquire() waits this long for the first list
  ReflectorOptions reflector;
};

class KubeIdentities : public identity::Identities {
 public:
  struct Stats {
    uint64_t created = 0, create_conflicts = 0, heartbeats = 0, recreated = 0, collected = 0, errors = 0;
    size_t cluster_identities = 0, referenced = 0;
    bool synced = false;
    std::string last_error;
  };

  // Loads the state files and starts listing and watching; acquire() waits
  // (bounded) for the first list.
  static Result<std::unique_ptr<KubeIdentities>> open(ClusterConfig cluster, KubeIdentitiesOptions options);
  ~KubeIdentities() override;
  KubeIdentities(const KubeIdentities&) = delete;
  KubeIdentities& operator=(const KubeIdentities&) = delete;

  Result<uint32_t> acquire(const std::vector<std::string>& labels) override;
  Status release(uint32_t id) override;
  std::optional<std::vector<std::string>> labels(uint32_t id) const override;
  std::map<uint32_t, std::vector<std::string>> list() const override;
  void on_change(std::function<void()> fn) override;

  // Waits for the first list; false after `limit`.
  bool wait_synced(std::chrono::milliseconds limit) const;
  Stats stats() const;
  // One round of heartbeats and GC now (the background thread's work), for tests.
  void maintain();

  // The label sets this backend numbers cluster-wide: every label k8s:key=value.
  static bool cluster_scoped(const std::vector<std::string>& sorted_labels);
  // The first number tried for a label set (then the next ones, wrapping).
  static uint32_t first_candidate(const std::vector<std::string>& sorted_labels, uint32_t first, uint32_t last);
  // The MyelinIdentity object for a number and its labels.
  static nlohmann::json object_for(uint32_t id, const std::vector<std::string>& sorted_labels);

 private:
  KubeIdentities(ClusterConfig cluster, KubeIdentitiesOptions options);
  struct Entry {
    std::vector<std::string> labels;  // sorted
    std::string created;              // creationTimestamp (RFC 3339: ordered as text)
    std::chrono::system_clock::time_point heartbeat;  // the annotation, or the creation when none
    std::string resource_version;
  };
  void on_upsert(const nlohmann::json& obj);
  void on_remove(const nlohmann::json& obj);
  void on_synced();
  void notify();
  void run();
  void round(bool gc);  // heartbeats due, and GC when `gc`
  // The oldest number holding these labels, under mu_.
  std::optional<uint32_t> winner_locked(const std::vector<std::string>& labels) const;
  void insert_locked(uint32_t id, Entry e);
  void erase_locked(uint32_t id);
  // PATCHes the heartbeat; an object found gone is created again (same number).
  Status renew(uint32_t id, const std::vector<std::string>& labels);
  Result<uint32_t> create(const std::vector<std::string>& labels);
  Status save_refs_locked() const;
  void count_error(const std::string& message);

  Client client_;
  KubeIdentitiesOptions opt_;
  std::unique_ptr<identity::IdentityAllocator> local_;
  std::unique_ptr<Reflector> reflector_;

  std::mutex write_mu_;  // acquire/release/maintain one at a time (HTTP outside mu_)
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<uint32_t, Entry> cache_;  // every MyelinIdentity listed/watched
  std::map<std::vector<std::string>, std::set<std::pair<std::string, uint32_t>>> by_labels_;  // -> (created, id)
  struct Ref {
    std::vector<std::string> labels;
    uint32_t count = 0;
  };
  std::map<uint32_t, Ref> refs_;  // this node's references (persisted)
  bool synced_ = false, stopping_ = false;
  Stats stats_;
  std::function<void()> on_change_;
  std::mutex on_change_mu_;
  std::thread thread_;
};

}  // namespace myelin::kube
