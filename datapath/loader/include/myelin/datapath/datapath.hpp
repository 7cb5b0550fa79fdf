// SPDX-License-Identifier: Apache-2.0
// datapath/loader (myelin_datapath): RAII over libbpf; the pod datapath loaded with versioned pinned maps; the sensors' and hooks' loaders.
// The C++ side of the pod datapath: loads the `lxc` BPF object through its
// bpftool skeleton with maps pinned (and reused) under the agent's bpffs
// root, attaches the programs to pods' host-side veths, and gives typed
// access to the maps. Programs stay attached when this object is destroyed:
// pod traffic must not depend on the agent being alive. Pinned maps of an
// older layout are migrated, never refused (pinned_maps.hpp): load() fills
// the new maps, the caller attaches the programs to every endpoint, then
// complete_upgrade() moves the new maps onto the pins.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "myelin/abi/net.h"
#include "myelin/bpf/ring_buffer.hpp"
#include "myelin/bpf/skeleton.hpp"
#include "myelin/datapath/pinned_maps.hpp"
#include "myelin/pseudo_fs.hpp"
#include "myelin/result.hpp"

struct lxc;  // the bpftool skeleton

namespace myelin::datapath {

// Creates pin_dir (and its parents) and checks that it is on a bpffs (which
// pseudofs::Mounts::ensure mounts at start): pins anywhere else would fail.
Status make_pin_dir(const std::string& pin_dir);

struct Feature {
  std::string name;
  bool available = false;
  std::string detail;
};
// Probes the running kernel once: the pseudo-filesystems (as mounted at
// start), program types, helpers, map types the datapath relies on.
std::vector<Feature> probe_features(const pseudofs::Mounts& mounts);
// The kernel function of a syscall on this architecture ("write" -> "__x64_sys_write").
std::string kernel_syscall_function(const std::string& name);
bool has_redirect_peer();

struct CtTimeouts {
  std::chrono::seconds tcp_syn{60}, tcp_established{21600}, tcp_closing{10}, udp{60}, icmp{30}, other{60};
};
struct CtGcResult {
  uint64_t scanned = 0, deleted = 0;
  uint64_t snat_scanned = 0, snat_deleted = 0;  // masquerade translations (abi/nat.h)
  std::array<uint64_t, MYELIN_CT_STATE_MAX> alive_by_state{};
};
// The lifetime of an entry in `state` for `proto` (pure: unit-tested).
std::chrono::seconds ct_timeout(const CtTimeouts& t, uint8_t proto, uint8_t state);

// A port range as the fewest (port, prefix bits) blocks that cover it exactly,
// for the policy LPM maps: 80-80 -> {80/16}; 0-65535 -> {0/0}; 8000-8099 -> 5 blocks.
std::vector<std::pair<uint16_t, uint8_t>> port_range_prefixes(uint16_t lo, uint16_t hi);

// A policy rule's key for one port block (prefixlen set from the block's bits).
myelin_policy_key policy_key(uint32_t ep_id, uint8_t dir, uint8_t proto, uint32_t identity, uint16_t port,
                             uint8_t port_bits);

// Capacities of the maps that fill with the cluster (0: the built-in size).
struct MapSizes {
  uint32_t endpoints = 0, conntrack = 0, ipcache = 0, policy = 0, fragments = 0;
};
// "conntrack=65536,policy=16384" -> sizes (names: endpoints, conntrack,
// ipcache, policy, fragments); an unknown name or a bad number is an error.
Result<MapSizes> parse_map_sizes(const std::string& spec);

// How full one map is: entries of capacity, or for a ring buffer the bytes
// written and not yet read of its size.
struct MapFill {
  std::string name;
  uint64_t entries = 0, capacity = 0;
};

class Datapath {
 public:
  struct Options {
    std::string pin_dir;
    bool redirect_peer = true;
    uint32_t events_bytes = 0;  // ring buffer size; 0 = MYELIN_EVENTS_BYTES
    MapSizes sizes;
  };
  static Result<std::unique_ptr<Datapath>> load(const Options& o);

  bool adopted() const { return adopted_; }
  // Maps migrated by load() ("myelin_ct: layout 1 -> 2, ..."); empty when all were adopted or new.
  const std::vector<std::string>& migrated() const { return pins_.report(); }
  // Once attach() ran on every endpoint: the migrated maps take their pins
  // (and what the old programs wrote meanwhile). A no-op without migrations.
  Status complete_upgrade() { return pins_.commit(); }
  int from_container_fd() const;
  int to_container_fd() const;
  int endpoints_fd() const;
  int ct_fd() const;
  int events_fd() const;
  // Any map of the object by its name (MYELIN_MAP_*); -1 for none.
  int map_fd(const char* name) const;

  Status endpoint_upsert(const myelin_ep_key& k, const myelin_ep_info& v);
  Status endpoint_delete(const myelin_ep_key& k);
  std::optional<myelin_ep_info> endpoint_get(const myelin_ep_key& k) const;
  std::vector<std::pair<myelin_ep_key, myelin_ep_info>> endpoints() const;
  myelin_stats stats() const;
  std::vector<std::pair<myelin_metrics_key, myelin_metrics_val>> metrics() const;
  uint64_t ct_count() const;
  // Every map that fills with traffic or with the cluster: endpoints,
  // conntrack, fragments, metrics, ipcache, both policy maps, the event ring.
  std::vector<MapFill> map_fill() const;
  uint32_t capacity(const char* map_name) const;
  // ipcache: prefix -> identity (addresses that are not endpoints here).
  Status ipcache_upsert(const myelin_ipcache_key& k, const myelin_ipcache_val& v);
  Status ipcache_delete(const myelin_ipcache_key& k);
  std::vector<std::pair<myelin_ipcache_key, myelin_ipcache_val>> ipcache_entries() const;
  // This node for every program (abi/net.h myelin_node_config): routing
  // mode, node address, tunnel device, masquerade. Written at start, before
  // endpoints are restored (a single node leaves it zero: routing none).
  Status set_node_config(const myelin_node_config& c);
  myelin_node_config node_config() const;
  // Policy entries; `deny` picks the map.
  Status policy_upsert(bool deny, const myelin_policy_key& k, const myelin_policy_val& v);
  Status policy_delete(bool deny, const myelin_policy_key& k);
  std::vector<std::pair<myelin_ct_key, myelin_ct_entry>> ct_entries() const;
  Result<CtGcResult> ct_gc(const CtTimeouts& t, uint64_t now_mono_ns);
  // The masquerade's part of ct_gc: translations of flows conntrack no longer has.
  Status snat_gc(const CtTimeouts& t, uint64_t now_mono_ns, CtGcResult& r);

  Status attach(int ifindex);
  Status detach(int ifindex);
  bool attached(int ifindex) const;
  static Status unpin_all(const std::string& pin_dir);

 private:
  Datapath() = default;
  bpf::Skeleton<lxc> skel_;
  PinnedMaps pins_;
  bool adopted_ = false;
  int ncpus_ = 1;
};

// Flow events from the datapath's ring buffer (Datapath::events_fd()).
// Layout 1 of the flow event was 104 bytes (no services fields): a previous
// release's programs write it until the upgrade replaces them.
using EventReader = bpf::RingBuffer<myelin_flow_event, 104>;

}  // namespace myelin::datapath
