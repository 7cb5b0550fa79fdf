// SPDX-License-Identifier: Apache-2.0
// PinnedMaps: the pod datapath's pinned maps across releases of the agent.
// Each pinned map has a layout version (its key and value as abi/net.h spells
// them in this build); myelin_layout, pinned beside them, records the
// version each map was created with, by kernel map id. Loading:
//   plan()   before load: reads each pin's version. This build's: adopted as
//            it is (libbpf reuses the pin). Older, or another capacity than
//            asked: to migrate (the object creates a new map, unpinned). No
//            pin: to create. Newer (a
//            downgrade), unknown, or not the size its version says: refused,
//            with nothing touched.
//   apply()  after load: records the versions, pins the created maps, fills
//            each new map from its old one through the migrations (per map,
//            version N to N+1). The old pins stay, and so do the programs
//            attached to the pods, which keep using them.
//   commit() once the new programs replaced the old ones on every endpoint
//            (tc replace, so no packet ever meets a program whose maps are
//            half filled): copies what the old programs added meanwhile,
//            moves each new map onto its pin name (rename: atomic), and
//            forgets the old versions.
// A crash in between leaves the old pins, which the next start migrates
// again; versions are by map id, so no step can mislabel a map.
//
// Why a version map and unchanged pin names rather than Cilium's "_v2"
// names: a release from before versions knows only the plain names. Under a
// "_v2" name such a release (a downgrade) would not see the new map, would
// create an empty one under the old name and replace every pod's programs
// with its own: conntrack gone. Keeping the name, it meets the new layout
// under the name it knows, and libbpf refuses to reuse a map whose key or
// value size differs before anything is touched (so the first layout change
// also changes a size: myelin_ct_entry grew). Every later release reads the
// version map, which also sees changes that keep the sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "myelin/fd.hpp"
#include "myelin/result.hpp"

struct bpf_object;

namespace myelin::datapath {

// ---- Layouts of earlier releases (C++ only: no program uses them; the
// migrations read them, the upgrade tests write them) ----

// myelin_ct_entry, layout 1: policy_rev a __u16 after tcp_seen; no Services fields.
struct CtEntryV1 {
  uint64_t created_ns, last_seen_ns, packets_fwd, bytes_fwd, packets_rev, bytes_rev;
  uint32_t src_ep, dst_ep;
  uint8_t state, tcp_seen;
  uint16_t policy_rev;
  uint8_t pad[4];
};
static_assert(sizeof(CtEntryV1) == 64 && offsetof(CtEntryV1, policy_rev) == 58);

// One layout a pinned map has had: its version and its key and value sizes.
struct MapLayout {
  const char* map;
  uint32_t version;
  uint32_t key_size, value_size;
};
// Every layout of every pinned map, oldest first; a map's last is this build's.
const std::vector<MapLayout>& map_layouts();
const MapLayout* current_layout(const std::string& map);

// What a migration may read: the maps of the object being loaded (the
// adopted ones are those the old programs use), by name; -1 for none.
struct MigrationContext {
  std::function<int(const char* map)> map_fd;
};
// One entry from layout `from` to from + 1: fills new_key/new_value (zeroed,
// of the new sizes); false drops the entry. Per-CPU maps: once per CPU slot.
using ConvertEntry = bool (*)(const MigrationContext& ctx, const void* key, const void* value, void* new_key, void* new_value);
struct Migration {
  const char* map;
  uint32_t from;
  ConvertEntry convert;
  const char* what;  // what changes, for the log
};
const std::vector<Migration>& map_migrations();

// The decision for one pin, from what is pinned (pure: unit-tested).
enum class PinAction { create, adopt, migrate };
struct PinnedState {
  bool pinned = false;
  uint32_t version = 1;  // recorded, or 1 when the pin has no record
  uint32_t key_size = 0, value_size = 0, max_entries = 0;
};
// capacity: the entries this start asks for (--bpf-map-max-entries): a pin
// of this layout but another capacity is migrated too, into a map of that size.
Result<PinAction> decide(const std::string& map, const PinnedState& pinned, uint32_t capacity, const std::string& pin_dir);

class PinnedMaps {
 public:
  PinnedMaps() = default;
  // obj: opened with pin_root_path = pin_dir, not loaded yet.
  static Result<PinnedMaps> plan(bpf_object* obj, const std::string& pin_dir);
  Status apply(bpf_object* obj);
  Status commit();
  bool pending() const;  // migrations waiting for commit()
  // "myelin_ct: layout 1 -> 2, 12 entries; ..." for each migrated map.
  const std::vector<std::string>& report() const { return report_; }

 private:
  struct Pin {
    std::string map, path;
    PinAction action = PinAction::create;
    uint32_t from = 0, to = 0, old_entries = 0;
    UniqueFd old_fd;  // migrate: the pinned map of the older layout
    int new_fd = -1;  // after apply(): the object's map
    uint32_t key_size = 0, value_size = 0, old_key_size = 0, old_value_size = 0;
    bool percpu = false, array = false, entries = true;
  };
  Status record(uint32_t id, const std::string& map, uint32_t version);
  Result<uint64_t> copy(Pin& p, bool only_missing);

  std::string dir_;
  UniqueFd layout_;  // myelin_layout
  std::vector<Pin> pins_;
  MigrationContext ctx_;
  std::vector<std::string> report_;
};

}  // namespace myelin::datapath
