// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/pinned_maps.hpp"
#include "myelin/abi/lb.h"
#include "myelin/abi/nat.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "myelin/abi/net.h"
#include "myelin/bpf/map_keys.hpp"
#include "myelin/log.hpp"

namespace myelin::datapath {
namespace {

using bpf::map_keys;

uint32_t endpoint_policy_rev(const MigrationContext& ctx, const myelin_addr& addr, uint8_t family) {
  myelin_ep_key k{};
  k.addr = addr;
  k.family = family;
  myelin_ep_info v{};
  int fd = ctx.map_fd(MYELIN_MAP_ENDPOINTS);
  return fd >= 0 && bpf_map_lookup_elem(fd, &k, &v) == 0 ? v.policy_rev : 0;
}

// Layout 2 widens policy_rev to the 32 bits the datapath sums (endpoints.h)
// and adds the Services fields (0: no Service). Layout 1 kept the sum's low
// 16 bits: when they still match today's sum nothing changed since policy
// allowed the connection, and the entry gets the full sum. Otherwise it gets
// a value half the number space away from it, so the connection's next
// packet from its opening side is checked against policy again, as layout 1
// would have done.
bool ct_entry_1_to_2(const MigrationContext& ctx, const void* key, const void* value, void* new_key, void* new_value) {
  myelin_ct_key k;
  std::memcpy(&k, key, sizeof k);
  CtEntryV1 o;
  std::memcpy(&o, value, sizeof o);
  const uint32_t sum = endpoint_policy_rev(ctx, k.saddr, k.family) + endpoint_policy_rev(ctx, k.daddr, k.family);
  myelin_ct_entry n{};
  n.created_ns = o.created_ns;
  n.last_seen_ns = o.last_seen_ns;
  n.packets_fwd = o.packets_fwd;
  n.bytes_fwd = o.bytes_fwd;
  n.packets_rev = o.packets_rev;
  n.bytes_rev = o.bytes_rev;
  n.src_ep = o.src_ep;
  n.dst_ep = o.dst_ep;
  n.policy_rev = static_cast<uint16_t>(sum) == o.policy_rev ? sum : sum + 0x80000000u;
  n.backend_id = 0;
  n.rev_nat_index = 0;
  n.state = o.state;
  n.tcp_seen = o.tcp_seen;
  std::memcpy(new_key, &k, sizeof k);
  std::memcpy(new_value, &n, sizeof n);
  return true;
}

// Layout 2 adds where an address lives in the cluster: every entry of
// layout 1 was this node's (its host addresses, policy CIDRs).
bool ipcache_1_to_2(const MigrationContext&, const void* key, const void* value, void* new_key, void* new_value) {
  myelin_ipcache_val n{};
  std::memcpy(&n, value, 8);  // identity, ipblock_identity
  std::memcpy(new_key, key, sizeof(myelin_ipcache_key));
  std::memcpy(new_value, &n, sizeof n);
  return true;
}

// ---- Kernel side ----

struct MapInfo {
  uint32_t id = 0, type = 0, key_size = 0, value_size = 0, max_entries = 0;
};

Result<MapInfo> map_info(int fd, const std::string& what) {
  bpf_map_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return Error::from_errno("read the map info of " + what);
  return MapInfo{info.id, info.type, info.key_size, info.value_size, info.max_entries};
}

bool is_percpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

const MapLayout* layout_of(const std::string& map, uint32_t version) {
  for (const auto& l : map_layouts())
    if (map == l.map && l.version == version) return &l;
  return nullptr;
}

const Migration* migration_of(const std::string& map, uint32_t from) {
  for (const auto& m : map_migrations())
    if (map == m.map && m.from == from) return &m;
  return nullptr;
}

}  // namespace

// Each layout's sizes are written out, not sizeof: a row is history, and
// must not move when abi/net.h does. The asserts make a change to a pinned map's
// key or value in abi/net.h fail here until it has its row (the next version,
// with the new sizes) and a migration from the row before.
static_assert(sizeof(myelin_ep_key) == 20 && sizeof(myelin_ep_info) == 32, "myelin_ep changed: add its next layout and a migration");
static_assert(sizeof(myelin_ct_key) == 40 && sizeof(myelin_ct_entry) == 72, "myelin_ct changed: add its next layout and a migration");
static_assert(sizeof(myelin_frag_key) == 40 && sizeof(myelin_frag_ports) == 4, "myelin_frag changed: add its next layout and a migration");
static_assert(sizeof(myelin_metrics_key) == 4 && sizeof(myelin_metrics_val) == 16, "myelin_metrics changed: add its next layout and a migration");
static_assert(sizeof(myelin_stats) == 72, "myelin_stats changed: add its next layout and a migration");
// The flow event only grows at its end (104 bytes before the services
// fields): the reader zero-fills an older, shorter record (EventReader).
static_assert(sizeof(myelin_flow_event) == 112, "myelin_flow_event changed: only append, and say the old size in EventReader");
static_assert(sizeof(myelin_node_config) == 32, "myelin_node changed: add its next layout and a migration");
static_assert(sizeof(myelin_ipcache_key) == 24 && sizeof(myelin_ipcache_val) == 16, "myelin_ipcache changed: add its next layout and a migration");
static_assert(sizeof(myelin_lb_svc_key) == 24 && sizeof(myelin_lb_svc_val) == 16 && sizeof(myelin_lb_backend) == 24 &&
                  sizeof(myelin_lb_revnat) == 20 && sizeof(myelin_lb_affinity_key) == 16 && sizeof(myelin_lb_affinity_val) == 16 &&
                  sizeof(myelin_lb_sock_key) == 32 && sizeof(myelin_lb_sock_val) == 24 && sizeof(myelin_lb_config) == 16,
              "a Services map changed: add its next layout and a migration");
static_assert(sizeof(myelin_snat_key) == 40 && sizeof(myelin_snat_entry) == 40, "myelin_snat changed: add its next layout and a migration");
static_assert(sizeof(myelin_policy_key) == 20 && sizeof(myelin_policy_val) == 8, "the policy maps changed: add their next layout and a migration");

const std::vector<MapLayout>& map_layouts() {
  static const std::vector<MapLayout> layouts = {
      {MYELIN_MAP_ENDPOINTS, 1, 20, 32},
      {MYELIN_MAP_CT, 1, 40, 64},  // CtEntryV1
      {MYELIN_MAP_CT, 2, 40, 72},
      {MYELIN_MAP_FRAG, 1, 40, 4},
      {MYELIN_MAP_METRICS, 1, 4, 16},
      {MYELIN_MAP_STATS, 1, 4, 72},
      // A ring has no key or value: its layout is myelin_flow_event's. A
      // new one starts empty; the old one's unread events go with it.
      {MYELIN_MAP_EVENTS, 1, 0, 0},
      {MYELIN_MAP_IPCACHE, 1, 24, 8},
      {MYELIN_MAP_IPCACHE, 2, 24, 16},
      {MYELIN_MAP_NODE, 1, 4, 32},
      {MYELIN_MAP_POL_ALLOW, 1, 20, 8},
      {MYELIN_MAP_POL_DENY, 1, 20, 8},
      // Services (abi/lb.h)
      {MYELIN_MAP_LB_SVC, 1, 24, 16},
      {MYELIN_MAP_LB_BACKEND, 1, 4, 24},
      {MYELIN_MAP_LB_REVNAT, 1, 4, 20},
      {MYELIN_MAP_LB_AFFINITY, 1, 16, 16},
      {MYELIN_MAP_LB_SOCK_REVNAT, 1, 32, 24},
      {MYELIN_MAP_LB_CONFIG, 1, 4, 16},
      {MYELIN_MAP_LB_MAGLEV, 1, 4, 4},  // a hash of maps: the value is an inner map's id
      // Masquerade (abi/nat.h)
      {MYELIN_MAP_SNAT, 1, 40, 40},
  };
  return layouts;
}

const MapLayout* current_layout(const std::string& map) {
  const MapLayout* cur = nullptr;
  for (const auto& l : map_layouts())
    if (map == l.map && (!cur || l.version > cur->version)) cur = &l;
  return cur;
}

const std::vector<Migration>& map_migrations() {
  static const std::vector<Migration> migrations = {
      {MYELIN_MAP_CT, 1, ct_entry_1_to_2, "policy_rev widened to 32 bits; backend_id and rev_nat_index for Services"},
      {MYELIN_MAP_IPCACHE, 1, ipcache_1_to_2, "tunnel_endpoint and flags for other nodes' addresses"},
  };
  return migrations;
}

Result<PinAction> decide(const std::string& map, const PinnedState& pinned, uint32_t capacity, const std::string& pin_dir) {
  const MapLayout* cur = current_layout(map);
  if (!cur) return Error{"map " + map + " is pinned but has no layout (datapath/loader/src/pinned_maps.cpp map_layouts)"};
  if (!pinned.pinned) return PinAction::create;
  const std::string where = "pinned map " + map + " in " + pin_dir;
  if (pinned.version > cur->version)
    return Error{where + " has layout " + std::to_string(pinned.version) + ", newer than this myelind's layout " +
                 std::to_string(cur->version) + ": it was made by a newer release. Refusing to start; nothing was changed, and the pods keep "
                 "the newer release's programs, which keep working. Run the newer myelind again; to start over with this one instead, "
                 "remove " + pin_dir + " (established connections and policy state are lost)"};
  const MapLayout* was = layout_of(map, pinned.version);
  if (!was)
    return Error{where + " has layout " + std::to_string(pinned.version) + ", which no release of myelind made (this one knows 1 to " +
                 std::to_string(cur->version) + "): remove " + pin_dir + " to start fresh"};
  if (pinned.key_size != was->key_size || pinned.value_size != was->value_size)
    return Error{where + " has " + std::to_string(pinned.key_size) + "-byte keys and " + std::to_string(pinned.value_size) +
                 "-byte values, but its layout " + std::to_string(pinned.version) + " has " + std::to_string(was->key_size) + " and " +
                 std::to_string(was->value_size) + ": it is not a map myelind made; remove " + pin_dir + " to start fresh"};
  if (pinned.version == cur->version) return pinned.max_entries == capacity ? PinAction::adopt : PinAction::migrate;
  for (uint32_t v = pinned.version; v < cur->version; ++v)
    if (!migration_of(map, v) || !layout_of(map, v + 1))
      return Error{where + " has layout " + std::to_string(pinned.version) + " and this myelind has no migration from layout " +
                   std::to_string(v) + " to " + std::to_string(v + 1)};
  return PinAction::migrate;
}

Result<PinnedMaps> PinnedMaps::plan(bpf_object* obj, const std::string& pin_dir) {
  PinnedMaps pm;
  pm.dir_ = pin_dir;
  std::map<uint32_t, uint32_t> recorded;  // map id -> version
  const std::string layout_path = pin_dir + "/" MYELIN_MAP_LAYOUT;
  if (::access(layout_path.c_str(), F_OK) == 0) {
    pm.layout_.reset(bpf_obj_get(layout_path.c_str()));
    if (!pm.layout_) return Error::from_errno("open " + layout_path);
    auto info = map_info(pm.layout_.get(), layout_path);
    if (!info) return info.error();
    if (info->key_size != sizeof(uint32_t) || info->value_size != sizeof(myelin_layout_val))
      return Error{layout_path + " is not a layout map (" + std::to_string(info->key_size) + "-byte keys, " +
                   std::to_string(info->value_size) + "-byte values)"};
    for (const auto& k : map_keys(pm.layout_.get(), sizeof(uint32_t))) {
      uint32_t id;
      std::memcpy(&id, k.data(), sizeof id);
      myelin_layout_val v{};
      if (bpf_map_lookup_elem(pm.layout_.get(), &id, &v) == 0) recorded[id] = v.version;
    }
  }
  bpf_map* m = nullptr;
  bpf_object__for_each_map(m, obj) {
    const char* path = bpf_map__pin_path(m);
    if (!path) continue;  // not pinned: lives and dies with this agent
    Pin p;
    p.map = bpf_map__name(m);
    p.path = path;
    const MapLayout* cur = current_layout(p.map);
    PinnedState st;
    UniqueFd old;
    if (::access(path, F_OK) == 0) {
      old.reset(bpf_obj_get(path));
      if (!old) return Error::from_errno("open pinned map " + p.path);
      auto info = map_info(old.get(), p.path);
      if (!info) return info.error();
      st.pinned = true;
      if (auto it = recorded.find(info->id); it != recorded.end()) st.version = it->second;
      st.key_size = info->key_size;
      st.value_size = info->value_size;
      st.max_entries = info->max_entries;
      p.percpu = is_percpu(info->type);
      p.array = info->type == BPF_MAP_TYPE_ARRAY || info->type == BPF_MAP_TYPE_PERCPU_ARRAY;
      p.entries = info->type != BPF_MAP_TYPE_RINGBUF;
    }
    auto action = decide(p.map, st, bpf_map__max_entries(m), pin_dir);
    if (!action) return action.error();
    p.action = *action;
    p.to = cur->version;
    p.key_size = cur->key_size;
    p.value_size = cur->value_size;
    if (p.action == PinAction::migrate) {
      p.from = st.version;
      p.old_entries = st.max_entries;
      p.old_fd = std::move(old);
      p.old_key_size = st.key_size;
      p.old_value_size = st.value_size;
    }
    // Created and migrated maps are pinned by apply()/commit(), after their
    // version is recorded and they are filled; adopted ones libbpf reuses.
    if (p.action != PinAction::adopt && bpf_map__set_pin_path(m, nullptr) != 0)
      return Error::from_errno("unpin " + p.map + " in the object");
    pm.pins_.push_back(std::move(p));
  }
  return pm;
}

Status PinnedMaps::record(uint32_t id, const std::string& map, uint32_t version) {
  myelin_layout_val v{};
  v.version = version;
  std::snprintf(v.map, sizeof v.map, "%s", map.c_str());
  if (bpf_map_update_elem(layout_.get(), &id, &v, BPF_ANY) != 0)
    return Error::from_errno("record the layout of " + map + " in " + dir_ + "/" MYELIN_MAP_LAYOUT);
  return {};
}

Status PinnedMaps::apply(bpf_object* obj) {
  if (!layout_) {
    const std::string path = dir_ + "/" MYELIN_MAP_LAYOUT;
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);  // as libbpf does for the pins it makes
    if (ec) return Error{"create " + dir_ + ": " + ec.message()};
    layout_.reset(bpf_map_create(BPF_MAP_TYPE_HASH, MYELIN_MAP_LAYOUT, sizeof(uint32_t), sizeof(myelin_layout_val), 256, nullptr));
    if (!layout_) return Error::from_errno("create " + path);
    if (bpf_obj_pin(layout_.get(), path.c_str()) != 0) return Error::from_errno("pin " + path);
  }
  ctx_.map_fd = [obj](const char* name) {
    bpf_map* m = bpf_object__find_map_by_name(obj, name);
    return m ? bpf_map__fd(m) : -1;
  };
  // In the object's map order: a migration that reads another map (conntrack
  // reads the endpoints) finds it already in this build's layout.
  for (auto& p : pins_) {
    bpf_map* m = bpf_object__find_map_by_name(obj, p.map.c_str());
    if (!m) return Error{"map " + p.map + " vanished from the object"};
    p.new_fd = bpf_map__fd(m);
    auto info = map_info(p.new_fd, p.map);
    if (!info) return info.error();
    if (auto s = record(info->id, p.map, p.to); !s) return s;
    if (p.action == PinAction::create) {
      if (int err = bpf_map__pin(m, p.path.c_str()); err) return Error::from_errno("pin " + p.path, -err);
    } else if (p.action == PinAction::migrate) {
      auto n = copy(p, false);
      if (!n) return n.error();
      std::string line = p.map + ": " +
                         (p.from != p.to ? "layout " + std::to_string(p.from) + " -> " + std::to_string(p.to) + ", " : "") +
                         (p.old_entries != info->max_entries
                              ? "capacity " + std::to_string(p.old_entries) + " -> " + std::to_string(info->max_entries) + ", "
                              : "") +
                         (p.entries ? std::to_string(*n) + " entries carried over" : "a new ring (unread events of the old one are lost)");
      for (uint32_t v = p.from; v < p.to; ++v) line += std::string("; ") + migration_of(p.map, v)->what;
      report_.push_back(line);
    }
  }
  return {};
}

Result<uint64_t> PinnedMaps::copy(Pin& p, bool only_missing) {
  // A ring has no entries; an array's are all there from the start (what
  // the old programs counted meanwhile is not told apart: left behind).
  if (!p.entries || (only_missing && p.array)) return uint64_t{0};
  const int ncpus = p.percpu ? libbpf_num_possible_cpus() : 1;
  if (ncpus <= 0) return Error{"cannot count possible CPUs"};
  auto slot = [&](uint32_t size) { return p.percpu ? (size + 7) / 8 * 8 : size; };
  std::vector<uint8_t> old_value(slot(p.old_value_size) * ncpus), new_value(slot(p.value_size) * ncpus);
  uint64_t copied = 0, dropped = 0;
  for (const auto& key : map_keys(p.old_fd.get(), p.old_key_size)) {
    if (bpf_map_lookup_elem(p.old_fd.get(), key.data(), old_value.data()) != 0) continue;  // gone meanwhile
    std::vector<uint8_t> new_key;
    bool keep = true;
    std::fill(new_value.begin(), new_value.end(), 0);
    for (int cpu = 0; cpu < ncpus && keep; ++cpu) {
      // Through every version in between, one step at a time.
      std::vector<uint8_t> k = key, v(old_value.begin() + cpu * slot(p.old_value_size),
                                      old_value.begin() + cpu * slot(p.old_value_size) + p.old_value_size);
      for (uint32_t ver = p.from; ver < p.to && keep; ++ver) {
        const MapLayout* next = layout_of(p.map, ver + 1);
        std::vector<uint8_t> nk(next->key_size), nv(next->value_size);
        keep = migration_of(p.map, ver)->convert(ctx_, k.data(), v.data(), nk.data(), nv.data());
        k = std::move(nk);
        v = std::move(nv);
      }
      if (!keep) break;
      new_key = k;
      std::copy(v.begin(), v.end(), new_value.begin() + cpu * slot(p.value_size));
    }
    if (!keep) {
      ++dropped;
      continue;
    }
    if (bpf_map_update_elem(p.new_fd, new_key.data(), new_value.data(), p.array ? BPF_ANY : BPF_NOEXIST) != 0) {
      if (errno == EEXIST) continue;  // the new programs made it already: theirs is newer
      if (only_missing) {
        log::warn("datapath", "upgrade: an entry of " + p.map + " written by the old programs was not carried over: " + std::strerror(errno));
        continue;
      }
      return Error::from_errno("migrate " + p.map + " after " + std::to_string(copied) + " entries (a smaller map? see --bpf-map-max-entries)");
    }
    ++copied;
  }
  if (dropped) log::info("datapath", "upgrade: " + std::to_string(dropped) + " entries of " + p.map + " had no place in the new layout");
  return copied;
}

bool PinnedMaps::pending() const {
  return std::any_of(pins_.begin(), pins_.end(), [](const Pin& p) { return p.action == PinAction::migrate; });
}

Status PinnedMaps::commit() {
  for (auto& p : pins_) {
    if (p.action != PinAction::migrate) continue;
    // What the old programs added between apply() and their replacement.
    auto late = copy(p, true);
    if (!late) return late.error();
    if (*late) log::info("datapath", "upgrade: " + std::to_string(*late) + " entries of " + p.map + " made by the old programs meanwhile carried over");
    const std::string next = p.path + "-next";  // bpffs refuses dots in names
    ::unlink(next.c_str());  // a crash's leftover
    if (bpf_obj_pin(p.new_fd, next.c_str()) != 0) return Error::from_errno("pin " + next);
    if (::rename(next.c_str(), p.path.c_str()) != 0) return Error::from_errno("move " + next + " onto " + p.path);
    p.old_fd.reset();
    p.action = PinAction::adopt;
  }
  // Forget the versions of maps no pin holds any more (replaced ones, and
  // ones a crash left recorded but never pinned).
  std::set<uint32_t> live;
  for (const auto& p : pins_) {
    UniqueFd fd(bpf_obj_get(p.path.c_str()));
    if (!fd) continue;
    if (auto info = map_info(fd.get(), p.path)) live.insert(info->id);
  }
  for (const auto& k : map_keys(layout_.get(), sizeof(uint32_t))) {
    uint32_t id;
    std::memcpy(&id, k.data(), sizeof id);
    if (!live.count(id)) bpf_map_delete_elem(layout_.get(), &id);
  }
  return {};
}

}  // namespace myelin::datapath
