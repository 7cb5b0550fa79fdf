// SPDX-License-Identifier: Apache-2.0
// daemon/tracing (myelin_tracing_policy, myelin_tracing): TracingPolicy decoded, compiled and kept loaded whole or not at all.
// TracingManager: TracingPolicies from the object store (the manifests
// directory, the API server), compiled and attached as in-kernel filters
// (TracingHooks), their events published with
// the process and pod they concern. Scoped policies (TracingPolicyNamespaced,
// podSelector) act only in their pods' network namespaces, kept in step with
// the endpoints. A policy is loaded whole or not at all:
// a hook the running kernel lacks (kprobes, BPF-LSM here) or any hook that
// fails to attach rejects the policy with a message naming it (a refusal
// of cause kernel), and an enabled previous version of that policy stays
// in force beside the refusal; a file that does not decode is refused (cause decode),
// listed beside the last good version of that file, which stays in force.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "myelin/datapath/datapath.hpp"
#include "myelin/datapath/lsm_hooks.hpp"
#include "myelin/datapath/tracing_hooks.hpp"
#include "myelin/endpoints/endpoint_store.hpp"
#include "myelin/objects/object_store.hpp"
#include "runtime/runtime_monitor.hpp"
#include "tracing_policy.hpp"

namespace myelin::tracing {

struct PolicyState {
  std::string kind, ns, name, source;  // source: file:line
  bool enabled = false;
  std::string error;      // why it is not enabled: field: reason
  std::string mode;       // what its actions guarantee here (e.g. the kill-after fallback of lsmhooks)
  size_t hooks = 0;
  std::optional<policy::Refusal> refusal;  // why it is not enabled, by parts (decode: the file; kernel: this policy)
  std::vector<std::string> warnings;       // accepted with a change (a message truncated, as Tetragon does)
};

class TracingManager {
 public:
  // endpoints: the pods scoped policies select from (null: scoped policies act nowhere).
  TracingManager(runtime::RuntimeMonitor& runtime, std::vector<datapath::Feature> features, std::string tracefs,
                 const endpoints::EndpointStore* endpoints = nullptr);
  ~TracingManager();
  TracingManager(const TracingManager&) = delete;
  TracingManager& operator=(const TracingManager&) = delete;

  Status start();
  void stop();
  // Follows the store's TracingPolicies (after start(); until stop()):
  // each loaded when added, reloaded when updated, unloaded when deleted,
  // and the sources whose TracingPolicies were refused, listed.
  void subscribe(objects::ObjectStore& store);
  // Every policy loaded (enabled or rejected by the kernel), then every file
  // refused (one entry, naming the document at fault).
  std::vector<PolicyState> list() const;
  myelin_proc_stats ring_stats() const;  // hook events (tracepoints, uprobes, kprobes) sent / lost in the kernel

 private:
  struct Loaded {
    TracingPolicy policy;
    std::vector<TracepointHook> tracepoints;   // what is attached: spec.tracepoints, plus lsmhooks' fallback
    std::vector<KprobeHook> kprobes;           // spec.kprobes as attached (an Override the kernel refuses is Sigkill; a list, its functions)
    size_t loader = SIZE_MAX;                  // spec.loader: its hook's index in tracepoints
    uint32_t id = 0;
    std::vector<uint32_t> hooks;  // TracingHooks ids (tracepoints, then uprobes, then kprobes)
    std::vector<uint32_t> lsm_hooks;             // LSM hooks it attached
    std::vector<myelin_lsm_key> lsm_keys;        // rules it wrote
    PolicyState state;
  };
  void on_object(const objects::Event& e);
  void on_refusal(const std::string& source, const policy::Refusal* why);
  void load_locked(Loaded& l);
  void reject(Loaded& l, int line, const std::string& field, const std::string& reason);
  void unload_locked(Loaded& l);
  uint32_t binary_id_locked(const std::string& path);
  uint32_t binary_prefix_locked(const std::string& prefix);  // 1 + its bit, 0 if the table is full
  // Processes already running (the exec probe did not see them): update their entry.
  void mark_running_locked(const std::function<bool(const std::string& exe)>& matches,
                           const std::function<void(myelin_exec_binary&)>& update);
  void on_event(const myelin_hook_event& e);
  void on_lsm_event(const myelin_lsm_event& e);
  Status load_lsm_locked(Loaded& l, size_t* failed);
  std::set<uint32_t> scope_of(const TracingPolicy& p) const;  // the netns of its pods
  void refresh_scopes();
  // Where an event came from: a tracepoint (index in Loaded::tracepoints), a
  // uprobe (index in policy.uprobes, the symbol) or a kprobe (index in
  // policy.kprobes, the kernel function).
  struct HookRef {
    uint32_t policy = 0;
    enum class Kind { tracepoint, uprobe, kprobe, usdt, lsm } kind = Kind::tracepoint;
    size_t index = 0;
    std::string symbol;
  };

  runtime::RuntimeMonitor& runtime_;
  std::vector<datapath::Feature> features_;
  std::string tracefs_;
  const endpoints::EndpointStore* endpoints_;
  uint64_t endpoints_generation_ = ~0ull;
  std::unique_ptr<datapath::TracingHooks> hooks_;
  std::unique_ptr<datapath::LsmHooks> lsm_;    // loaded on first use, where BPF-LSM runs
  struct LsmRule {
    std::string hook, path;
    size_t index = 0;  // in the policy's lsmhooks
  };
  std::map<uint32_t, LsmRule> lsm_rules_;  // by rule id
  mutable std::mutex mu_;
  objects::ObjectStore* objects_ = nullptr;
  objects::ObjectStore::SubscriptionId subscription_ = 0;
  std::map<objects::Key, std::shared_ptr<Loaded>> loaded_;  // by the store's key (its source first)
  // An enabled previous version kept in force while its new version (in
  // loaded_) is rejected by this kernel; goes with the next change.
  std::map<objects::Key, std::shared_ptr<Loaded>> kept_;
  std::map<std::string, policy::Refusal> refused_;  // sources whose last TracingPolicies did not decode
  std::map<uint32_t, std::shared_ptr<Loaded>> by_id_;
  std::map<uint32_t, HookRef> hook_of_;  // hook id in the config -> where it came from
  std::map<std::string, uint32_t> binary_ids_;
  std::map<std::string, uint32_t> binary_prefixes_;  // prefix -> 1 + its bit
  uint32_t next_policy_ = 1, next_hook_ = 1, next_rule_ = 1;
  std::atomic<bool> running_{false};
  int poller_ = 0;
};

}  // namespace myelin::tracing
