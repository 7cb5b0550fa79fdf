// SPDX-License-Identifier: Apache-2.0
#include "myelin/services/lb_writer.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cstring>
#include <tuple>

#include "myelin/bpf/map_keys.hpp"
#include "myelin/log.hpp"
#include "myelin/net.hpp"
#include "myelin/objects/model.hpp"

namespace myelin::services {
namespace {

constexpr const char* kLog = "lb";
constexpr uint32_t kDefaultAffinityTimeout = 10800;  // sessionAffinityConfig's default
constexpr uint32_t kMaxBackendId = 1u << 30;

uint32_t kind_flag(FrontendKind k) {
  switch (k) {
    case FrontendKind::cluster_ip: return MYELIN_LB_F_CLUSTER_IP;
    case FrontendKind::node_port: return MYELIN_LB_F_NODE_PORT;
    case FrontendKind::external_ip: return MYELIN_LB_F_EXTERNAL_IP;
    case FrontendKind::load_balancer: return MYELIN_LB_F_LOAD_BALANCER;
  }
  return 0;
}

FrontendKind kind_of(uint32_t flags) {
  if (flags & MYELIN_LB_F_NODE_PORT) return FrontendKind::node_port;
  if (flags & MYELIN_LB_F_EXTERNAL_IP) return FrontendKind::external_ip;
  if (flags & MYELIN_LB_F_LOAD_BALANCER) return FrontendKind::load_balancer;
  return FrontendKind::cluster_ip;
}

// A frontend or backend for a log line. A key restored from the pinned maps
// may carry any protocol number: "?" rather than protocol_name's TCP default.
std::string fe_str(uint32_t addr, uint16_t port, uint8_t proto) {
  bool known = proto == 6 || proto == 17 || proto == 132;
  return net::Ipv4{addr}.str() + ":" + std::to_string(port) + "/" + (known ? objects::protocol_name(proto) : "?");
}

uint64_t digest(const std::vector<uint32_t>& v) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the ids
  for (uint32_t x : v) {
    h ^= x;
    h *= 1099511628211ull;
  }
  return h | 1;  // never 0 (0: unknown)
}

// The slots after a change from `old` to the set `want`: backends that stay
// keep their slot, new ones fill the holes, then grow the tail; when it
// shrinks, the last slots move into the holes. Few slots change, and every
// slot the datapath can see during the rewrite holds a valid backend.
std::vector<uint32_t> arrange(const std::vector<uint32_t>& old, const std::vector<uint32_t>& want) {
  std::set<uint32_t> wanted(want.begin(), want.end()), placed;
  std::vector<uint32_t> res;
  res.reserve(std::max(old.size(), want.size()));
  for (uint32_t id : old) {
    bool keep = id && wanted.count(id) && !placed.count(id);
    res.push_back(keep ? id : 0);
    if (keep) placed.insert(id);
  }
  std::vector<uint32_t> add;
  for (uint32_t id : want)
    if (!placed.count(id)) add.push_back(id);
  size_t a = 0;
  for (auto& s : res)
    if (!s && a < add.size()) s = add[a++];
  while (a < add.size()) res.push_back(add[a++]);
  for (size_t i = 0; i < res.size(); ++i) {
    while (!res.empty() && !res.back()) res.pop_back();
    if (i < res.size() && !res[i]) {
      res[i] = res.back();
      res.pop_back();
    }
  }
  while (!res.empty() && !res.back()) res.pop_back();
  return res;
}

// BPF programs (tc, cgroup sock_addr) run inside RCU read-side sections:
// once synchronize_rcu() returned, none that started before is running.
// membarrier(MEMBARRIER_CMD_GLOBAL) is synchronize_rcu() on more than one
// CPU; elsewhere (one CPU, nohz_full) a pause stands in.
void synchronize_rcu() {
  if (sysconf(_SC_NPROCESSORS_ONLN) > 1 && syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

}  // namespace

Result<LbAlgorithm> parse_lb_algorithm(const std::string& s) {
  if (s == "random") return LbAlgorithm::random;
  if (s == "maglev") return LbAlgorithm::maglev;
  return Error{"--lb-algorithm must be random or maglev, not '" + s + "'"};
}

// One frontend as the table wants it.
struct LbWriter::Want {
  FrontendRef ref;
  struct Scope {
    uint32_t flags = 0, timeout = 0;
    std::vector<BeKey> active;
  };
  std::map<uint8_t, Scope> scopes;
  std::vector<BeKey> all;  // every backend it holds: active and terminating
  bool maglev = false;
  uint64_t source = 0;  // hash of the Frontend and its Service's name
};

namespace {

// What a frontend's entries are made of, hashed: the same hash, the same
// entries (a table of 10,000 Services with one changed is one install).
uint64_t source_hash(const Service& s, const Frontend& f, bool maglev) {
  uint64_t h = 1469598103934665603ull;
  auto mixin = [&h](uint64_t v) {
    h ^= v;
    h *= 1099511628211ull;
  };
  for (char c : s.ns + "/" + s.name) mixin(static_cast<uint8_t>(c));
  mixin((uint64_t{f.addr.host} << 24) | (uint64_t{f.port} << 8) | f.proto);
  mixin(static_cast<uint64_t>(f.kind) | uint64_t{f.external_local} << 8 | uint64_t{f.internal_local} << 9 | uint64_t{f.affinity} << 10 |
        uint64_t{maglev} << 11 | uint64_t{f.affinity_timeout_s} << 32);
  for (const auto& b : f.backends) {
    mixin((uint64_t{b.addr.host} << 24) | (uint64_t{b.port} << 8) | b.proto);
    mixin(static_cast<uint64_t>(b.state) | uint64_t{b.local} << 8 | uint64_t{b.terminating} << 9 | uint64_t{b.external_active} << 10);
  }
  return h | 1;
}

}  // namespace

LbWriter::~LbWriter() = default;

Result<std::unique_ptr<LbWriter>> LbWriter::open(const LbWriterOptions& o) {
  if (auto s = maglev::check_table_size(o.maglev_m); !s) return Error{"--lb-maglev-table-size: " + s.error().message};
  std::unique_ptr<LbWriter> w(new LbWriter(o));
  if (auto s = w->open_maps(); !s) return s.error();
  if (auto s = w->restore(); !s) return s.error();
  // After restore: a table size that changed leaves the old tables, whose
  // out-of-range slots read as "no table" (random) until the first apply
  // rewrites them at the new size.
  if (auto s = w->write_config(); !s) return s.error();
  return w;
}

Status LbWriter::open_maps() {
  struct Want {
    UniqueFd* fd;
    const char* name;
    uint32_t type, key, value;
    uint32_t* cap;
  };
  uint32_t unused = 0;
  const Want maps[] = {
      {&svc_, MYELIN_MAP_LB_SVC, BPF_MAP_TYPE_HASH, sizeof(myelin_lb_svc_key), sizeof(myelin_lb_svc_val), &svc_cap_},
      {&be_fd_, MYELIN_MAP_LB_BACKEND, BPF_MAP_TYPE_HASH, 4, sizeof(myelin_lb_backend), &be_cap_},
      {&revnat_, MYELIN_MAP_LB_REVNAT, BPF_MAP_TYPE_HASH, 4, sizeof(myelin_lb_revnat), &revnat_cap_},
      {&aff_, MYELIN_MAP_LB_AFFINITY, BPF_MAP_TYPE_LRU_HASH, sizeof(myelin_lb_affinity_key), sizeof(myelin_lb_affinity_val), &unused},
      {&maglev_, MYELIN_MAP_LB_MAGLEV, BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, &maglev_cap_},
      {&cfg_, MYELIN_MAP_LB_CONFIG, BPF_MAP_TYPE_ARRAY, 4, sizeof(myelin_lb_config), &unused},
  };
  for (const auto& m : maps) {
    const std::string path = opts_.pin_dir + "/" + m.name;
    m.fd->reset(bpf_obj_get(path.c_str()));
    if (!*m.fd) return Error::from_errno("open the load-balancing map " + path + " (pinned by the pod datapath's object)");
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(m.fd->get(), &info, &len) != 0) return Error::from_errno("read the map info of " + path);
    if (info.type != m.type || info.key_size != m.key || info.value_size != m.value)
      return Error{path + " is not the map abi/lb.h describes (type " + std::to_string(info.type) + ", " + std::to_string(info.key_size) +
                   "-byte keys, " + std::to_string(info.value_size) + "-byte values; expected type " + std::to_string(m.type) + ", " +
                   std::to_string(m.key) + " and " + std::to_string(m.value) + ")"};
    *m.cap = info.max_entries;
  }
  return {};
}

Status LbWriter::write_config() {
  myelin_lb_config c{};
  c.flags = MYELIN_LB_CFG_F_ENABLED;
  c.maglev_m = opts_.maglev_m;
  c.node_port_min = opts_.node_port_min;
  c.node_port_max = opts_.node_port_max;
  c.hairpin_ipv4 = inet_addr(MYELIN_LB_HAIRPIN_IPV4);
  uint32_t k = 0;
  if (bpf_map_update_elem(cfg_.get(), &k, &c, BPF_ANY) != 0) return Error::from_errno("write the load-balancing config slot");
  return {};
}

myelin_lb_svc_key LbWriter::svc_key(const FeKey& k, uint8_t scope, uint16_t slot) const {
  myelin_lb_svc_key key{};
  key.addr.w[0] = htonl(k.addr);
  key.dport = htons(k.port);
  key.proto = k.proto;
  key.scope = scope;
  key.slot = slot;
  key.family = MYELIN_FAMILY_IPV4;
  return key;
}

// What the maps hold becomes the installed state, every part marked restored.
Status LbWriter::restore() {
  struct Group {
    bool has_slot0 = false;
    myelin_lb_svc_val slot0{};
    std::map<uint16_t, uint32_t> slots;
  };
  std::map<std::pair<FeKey, uint8_t>, Group> groups;
  for (const auto& key : bpf::map_keys<myelin_lb_svc_key>(svc_.get())) {
    myelin_lb_svc_val v{};
    if (bpf_map_lookup_elem(svc_.get(), &key, &v) != 0) continue;
    if (key.family != MYELIN_FAMILY_IPV4) continue;
    FeKey fk{ntohl(key.addr.w[0]), ntohs(key.dport), key.proto};
    auto& g = groups[{fk, key.scope}];
    if (key.slot == 0) {
      g.has_slot0 = true;
      g.slot0 = v;
    } else {
      g.slots[key.slot] = v.backend_id;
    }
  }
  for (auto& [gk, g] : groups) {
    const auto& [fk, scope] = gk;
    if (!g.has_slot0 || !g.slot0.rev_nat_index) {
      for (const auto& [slot, id] : g.slots) strays_.push_back(svc_key(fk, scope, slot));
      if (g.has_slot0) strays_.push_back(svc_key(fk, scope, 0));
      continue;
    }
    auto [it, fresh] = fes_.try_emplace(fk);
    Installed& fe = it->second;
    if (fresh) {
      fe.rev = g.slot0.rev_nat_index;
      fe.restored = true;
      fe.ref.kind = kind_of(g.slot0.flags);
      fe.ref.addr = net::Ipv4{fk.addr};
      fe.ref.port = fk.port;
      fe.ref.proto = fk.proto;
      if (by_rev_.count(fe.rev)) {
        log::warn(kLog, "restored frontend " + fe_str(fk.addr, fk.port, fk.proto) + " has rev_nat_index " + std::to_string(fe.rev) +
                            " which another one has: dropped");
        fes_.erase(it);
        for (const auto& [slot, id] : g.slots) strays_.push_back(svc_key(fk, scope, slot));
        strays_.push_back(svc_key(fk, scope, 0));
        continue;
      }
      by_rev_[fe.rev] = fk;
    }
    ScopeEntry e;
    e.flags = g.slot0.flags;
    e.affinity_timeout = g.slot0.affinity_timeout;
    e.slots.assign(g.slot0.count, 0);
    for (const auto& [slot, id] : g.slots) {
      if (slot <= g.slot0.count) e.slots[slot - 1] = id;
      else e.stray_max = std::max(e.stray_max, slot);
      fe.held.insert(id);
      fe.restored_backends.insert(id);
    }
    fe.scopes[scope] = std::move(e);
  }
  for (uint32_t rev : bpf::map_keys<uint32_t>(revnat_.get()))
    if (rev == 0 || rev > 0xffff || !by_rev_.count(static_cast<uint16_t>(rev))) orphan_revs_.insert(static_cast<uint16_t>(rev));
  for (uint32_t rev : bpf::map_keys<uint32_t>(maglev_.get())) {
    auto r = by_rev_.find(static_cast<uint16_t>(rev));
    if (rev > 0xffff || r == by_rev_.end()) orphan_maglev_.insert(rev);
    else fes_[r->second].maglev = true;  // digest 0: rewritten by the first apply that wants it
  }
  for (uint32_t id : bpf::map_keys<uint32_t>(be_fd_.get())) {
    myelin_lb_backend b{};
    if (bpf_map_lookup_elem(be_fd_.get(), &id, &b) != 0) continue;
    be_[id] = b;
    be_ids_[BeKey{ntohl(b.addr.w[0]), ntohs(b.port), b.proto}] = id;
    restored_be_.insert(id);
    be_cursor_ = std::max(be_cursor_, id);
  }
  for (const auto& [rev, k] : by_rev_) rev_cursor_ = std::max(rev_cursor_, rev);
  restore_report_ = "restored " + std::to_string(fes_.size()) + " frontends and " + std::to_string(be_.size()) +
                    " backends from the pinned maps";
  if (!orphan_revs_.empty() || !strays_.empty() || !orphan_maglev_.empty())
    restore_report_ += " (and " + std::to_string(orphan_revs_.size() + strays_.size() + orphan_maglev_.size()) +
                       " entries of no frontend, pruned once every source has synced)";
  publish();
  return {};
}

uint16_t LbWriter::alloc_rev() {
  if (by_rev_.size() + orphan_revs_.size() >= std::min<uint32_t>(revnat_cap_, 0xffff)) return 0;
  // Round robin from the last one given: a freed index is reused as late as
  // possible (a connection of the frontend that had it may still be open).
  for (uint32_t i = 1; i <= 0xffff; ++i) {
    auto c = static_cast<uint16_t>((rev_cursor_ + i) % 0x10000);
    if (c == 0 || by_rev_.count(c) || orphan_revs_.count(c)) continue;
    rev_cursor_ = c;
    return c;
  }
  return 0;
}

uint32_t LbWriter::alloc_backend_id() {
  for (uint32_t i = 1; i <= kMaxBackendId; ++i) {
    uint32_t c = (be_cursor_ + i) % kMaxBackendId;
    if (c == 0 || be_.count(c)) continue;
    be_cursor_ = c;
    return c;
  }
  return 0;
}

bool LbWriter::write_maglev(Installed& fe, const std::vector<uint32_t>& ids) {
  std::vector<maglev::Backend> bs;
  for (uint32_t id : ids) {
    auto b = be_.find(id);
    if (b == be_.end()) continue;
    bs.push_back({ntohl(b->second.addr.w[0]), ntohs(b->second.port), b->second.proto, id});
  }
  auto table = maglev::build_table(std::move(bs), opts_.maglev_m);
  if (table.empty()) return false;
  const uint64_t d = digest(table);
  if (fe.maglev && fe.maglev_digest == d) return true;
  LIBBPF_OPTS(bpf_map_create_opts, copts, .map_flags = BPF_F_INNER_MAP);
  UniqueFd inner(bpf_map_create(BPF_MAP_TYPE_ARRAY, "myelin_lb_mgl_in", 4, 4, opts_.maglev_m, &copts));
  if (!inner) {
    log::warn(kLog, "Maglev table of rev_nat_index " + std::to_string(fe.rev) + ": " + std::strerror(errno));
    return false;
  }
  std::vector<uint32_t> keys(table.size());
  for (uint32_t i = 0; i < keys.size(); ++i) keys[i] = i;
  uint32_t count = static_cast<uint32_t>(table.size());
  if (bpf_map_update_batch(inner.get(), keys.data(), table.data(), &count, nullptr) != 0 || count != table.size()) {
    for (uint32_t i = 0; i < table.size(); ++i)  // a kernel without batch updates of arrays
      if (bpf_map_update_elem(inner.get(), &i, &table[i], BPF_ANY) != 0) return false;
  }
  uint32_t rev = fe.rev;
  int fd = inner.get();
  // One update swaps the whole table: the datapath sees the old or the new.
  if (bpf_map_update_elem(maglev_.get(), &rev, &fd, BPF_ANY) != 0) {
    log::warn(kLog, "Maglev table of rev_nat_index " + std::to_string(fe.rev) + " not installed: " + std::strerror(errno));
    return false;
  }
  fe.maglev = true;
  fe.maglev_digest = d;
  ++counters_.maglev_tables_written;
  return true;
}

void LbWriter::delete_maglev(Installed& fe) {
  if (!fe.maglev) return;
  uint32_t rev = fe.rev;
  bpf_map_delete_elem(maglev_.get(), &rev);
  fe.maglev = false;
  fe.maglev_digest = 0;
}

// One frontend from its installed version (if any) to `w`. False: not
// installed; the previous version (if any) is left as it was.
bool LbWriter::install(const FeKey& k, Want& w, std::vector<FrontendError>& errs) {
  auto it = fes_.find(k);
  Installed* old = it == fes_.end() ? nullptr : &it->second;
  // Written from this very frontend already (and nothing restored to merge).
  if (old && old->source == w.source && !old->restored && old->restored_backends.empty() && !(w.maglev && !old->maglev)) return true;
  auto fail = [&](const std::string& msg) {
    errs.push_back({w.ref.ns + "/" + w.ref.name, w.ref.kind, w.ref.addr, w.ref.port, w.ref.proto, msg, old != nullptr});
    return false;
  };

  // Every backend it needs is in myelin_lb_be (step 1 of apply()).
  std::set<uint32_t> held;
  std::map<BeKey, uint32_t> ids;
  for (const auto& bk : w.all) {
    auto b = be_ids_.find(bk);
    if (b == be_ids_.end()) return fail("backend " + fe_str(bk.addr, bk.port, bk.proto) + " does not fit in " MYELIN_MAP_LB_BACKEND " (full)");
    held.insert(b->second);
    ids[bk] = b->second;
  }
  std::set<uint32_t> restored_kept;
  if (old && !synced_)
    for (uint32_t id : old->restored_backends)
      if (!held.count(id) && be_.count(id)) restored_kept.insert(id);

  std::map<uint8_t, ScopeEntry> next;
  for (const auto& [scope, ws] : w.scopes) {
    std::set<uint32_t> want;
    for (const auto& bk : ws.active) want.insert(ids.at(bk));
    const ScopeEntry* os = nullptr;
    if (old)
      if (auto o = old->scopes.find(scope); o != old->scopes.end()) os = &o->second;
    if (os)  // restored backends the table has not listed yet stay where they were
      for (uint32_t id : os->slots)
        if (restored_kept.count(id)) want.insert(id);
    ScopeEntry e;
    e.flags = ws.flags;
    e.affinity_timeout = ws.timeout;
    e.slots = arrange(os ? os->slots : std::vector<uint32_t>{}, std::vector<uint32_t>(want.begin(), want.end()));
    if (e.slots.size() > 0xffff) return fail("more than 65535 backends");
    next[scope] = std::move(e);
  }
  held.insert(restored_kept.begin(), restored_kept.end());

  const bool fresh = !old;
  const uint16_t rev = fresh ? alloc_rev() : old->rev;
  if (!rev) {
    ++counters_.map_errors_revnat;
    return fail("no rev_nat_index left (" MYELIN_MAP_LB_REVNAT " full)");
  }
  const auto ext = static_cast<uint8_t>(MYELIN_LB_SCOPE_EXTERNAL);
  const bool want_maglev = w.maglev && next.count(ext) && !next[ext].slots.empty();
  if (want_maglev) next[ext].flags |= MYELIN_LB_F_MAGLEV;  // cleared below if its table does not fit

  if (old && old->scopes == next && old->held == held && old->maglev == want_maglev && (!want_maglev || old->maglev_digest)) {
    old->ref = w.ref;
    old->source = w.source;
    old->restored = false;
    old->restored_backends = restored_kept;
    return true;
  }

  // Prepare: every key the datapath cannot see yet. Any failure here undoes
  // them and leaves the frontend as it was.
  std::vector<myelin_lb_svc_key> inserted;
  bool revnat_inserted = false;
  auto undo = [&](const std::string& msg) {
    for (const auto& key : inserted) bpf_map_delete_elem(svc_.get(), &key);
    if (revnat_inserted) {
      uint32_t r = rev;
      bpf_map_delete_elem(revnat_.get(), &r);
    }
    return fail(msg);
  };
  auto put = [&](const myelin_lb_svc_key& key, const myelin_lb_svc_val& v) {
    if (bpf_map_update_elem(svc_.get(), &key, &v, BPF_ANY) != 0) return false;
    inserted.push_back(key);
    return true;
  };
  if (fresh) {
    myelin_lb_revnat rn{};
    rn.addr.w[0] = htonl(k.addr);
    rn.port = htons(k.port);
    rn.family = MYELIN_FAMILY_IPV4;
    uint32_t r = rev;
    if (bpf_map_update_elem(revnat_.get(), &r, &rn, BPF_ANY) != 0) {
      ++counters_.map_errors_revnat;
      return fail(std::string("reverse NAT entry does not fit in " MYELIN_MAP_LB_REVNAT ": ") + std::strerror(errno));
    }
    revnat_inserted = true;
  }
  auto slot_val = [rev](uint32_t id) {
    myelin_lb_svc_val v{};
    v.backend_id = id;
    v.rev_nat_index = rev;
    return v;
  };
  auto slot0_val = [rev](const ScopeEntry& e) {
    myelin_lb_svc_val v{};
    v.count = static_cast<uint16_t>(e.slots.size());
    v.rev_nat_index = rev;
    v.flags = e.flags;
    v.affinity_timeout = e.affinity_timeout;
    return v;
  };
  auto old_scope = [&](uint8_t s) -> const ScopeEntry* {
    if (!old) return nullptr;
    auto o = old->scopes.find(s);
    return o == old->scopes.end() ? nullptr : &o->second;
  };
  for (const auto& [scope, e] : next) {
    const ScopeEntry* os = old_scope(scope);
    const size_t oc = os ? os->slots.size() : 0;
    for (size_t i = oc; i < e.slots.size(); ++i)
      if (!put(svc_key(k, scope, static_cast<uint16_t>(i + 1)), slot_val(e.slots[i]))) {
        ++counters_.map_errors_svc;
        return undo(std::string("slots do not fit in " MYELIN_MAP_LB_SVC ": ") + std::strerror(errno));
      }
    // A new INTERNAL entry is invisible until the EXTERNAL one says TWO_SCOPES.
    if (!os && scope != ext && !put(svc_key(k, scope, 0), slot0_val(e))) {
      ++counters_.map_errors_svc;
      return undo(std::string("frontend does not fit in " MYELIN_MAP_LB_SVC ": ") + std::strerror(errno));
    }
  }

  Installed fe;
  if (old) {
    fe.maglev = old->maglev;
    fe.maglev_digest = old->maglev_digest;
  }
  fe.rev = rev;
  // Maglev: the new table replaces the old in one update, before slot 0
  // says MAGLEV; every id in it is in myelin_lb_be already.
  if (want_maglev && !write_maglev(fe, next[ext].slots)) {
    ++counters_.map_errors_maglev;
    next[ext].flags &= ~MYELIN_LB_F_MAGLEV;  // random selection instead (counted)
  }

  // Commit: slots the datapath may see are rewritten in place (each update
  // atomic, each value a backend in myelin_lb_be), then slot 0 (the count and
  // flags), then the slots past the new count go. INTERNAL before EXTERNAL.
  auto commit_scope = [&](uint8_t scope, const ScopeEntry& e) -> bool {
    const ScopeEntry* os = old_scope(scope);
    const size_t oc = os ? os->slots.size() : 0;
    for (size_t i = 0; i < std::min(oc, e.slots.size()); ++i)
      if (os->slots[i] != e.slots[i]) {
        auto key = svc_key(k, scope, static_cast<uint16_t>(i + 1));
        auto v = slot_val(e.slots[i]);
        if (bpf_map_update_elem(svc_.get(), &key, &v, BPF_ANY) != 0) {
          ++counters_.map_errors_svc;
          log::warn(kLog, "rewrite a slot of " + fe_str(k.addr, k.port, k.proto) + ": " + std::strerror(errno));
        }
      }
    if (!os || scope == ext || !(*os == e)) {
      auto key = svc_key(k, scope, 0);
      auto v = slot0_val(e);
      if (bpf_map_update_elem(svc_.get(), &key, &v, BPF_ANY) != 0) {
        if (!os) return false;  // a new frontend's slot 0: nothing visible yet, undone by the caller
        ++counters_.map_errors_svc;
        log::warn(kLog, "rewrite slot 0 of " + fe_str(k.addr, k.port, k.proto) + ": " + std::strerror(errno));
      }
    }
    // A program that read the old count may still read these: after a grace period.
    retire(k, scope, e.slots.size() + 1, std::max<size_t>(oc, os ? os->stray_max : 0));
    return true;
  };
  for (auto s = next.rbegin(); s != next.rend(); ++s)  // INTERNAL (1) first
    if (!commit_scope(s->first, s->second)) {
      ++counters_.map_errors_svc;
      const std::string msg = std::string("frontend does not fit in " MYELIN_MAP_LB_SVC ": ") + std::strerror(errno);
      if (fresh) delete_maglev(fe);
      return undo(msg);
    }
  // Scopes it no longer has (it stopped being two-scoped): a program that
  // read the old EXTERNAL entry may still look its INTERNAL one up.
  if (old)
    for (const auto& [scope, os] : old->scopes)
      if (!next.count(scope)) retire(k, scope, 0, std::max<size_t>(os.slots.size(), os.stray_max));
  if (auto e = next.find(ext); e == next.end() || !(e->second.flags & MYELIN_LB_F_MAGLEV)) delete_maglev(fe);

  fe.scopes = std::move(next);
  fe.held = std::move(held);
  fe.ref = w.ref;
  fe.source = w.source;
  fe.restored = false;
  fe.restored_backends = std::move(restored_kept);
  if (fresh) by_rev_[rev] = k;
  fes_[k] = std::move(fe);
  return true;
}

void LbWriter::retire(const FeKey& k, uint8_t scope, size_t from, size_t to) {
  for (size_t i = from; i <= to && i <= 0xffff; ++i) retired_svc_.push_back(svc_key(k, scope, static_cast<uint16_t>(i)));
}

void LbWriter::grace_then_delete() {
  if (retired_svc_.empty() && retired_revnat_.empty() && retired_be_.empty()) return;
  if (opts_.grace_period) opts_.grace_period();
  else synchronize_rcu();
  for (const auto& key : retired_svc_) bpf_map_delete_elem(svc_.get(), &key);
  for (uint32_t rev : retired_revnat_) bpf_map_delete_elem(revnat_.get(), &rev);
  for (uint32_t id : retired_be_) bpf_map_delete_elem(be_fd_.get(), &id);
  retired_svc_.clear();
  retired_revnat_.clear();
  retired_be_.clear();
}

void LbWriter::remove_frontend(const FeKey& k, Installed& fe) {
  // Slot 0 of EXTERNAL first: from then on no new lookup finds the
  // frontend; the rest goes after a grace period.
  for (uint8_t scope : {static_cast<uint8_t>(MYELIN_LB_SCOPE_EXTERNAL), static_cast<uint8_t>(MYELIN_LB_SCOPE_INTERNAL)}) {
    auto key = svc_key(k, scope, 0);
    bpf_map_delete_elem(svc_.get(), &key);
  }
  for (const auto& [scope, e] : fe.scopes) retire(k, scope, 1, std::max<size_t>(e.slots.size(), e.stray_max));
  delete_maglev(fe);  // a program without it picks at random among the slots, still there
  retired_revnat_.push_back(fe.rev);
  by_rev_.erase(fe.rev);
}

// Affinity entries of these frontends whose backend is no longer one of
// their slots (or whose frontend is gone): the datapath only checks that a
// backend is active, and it may be active for another frontend.
void LbWriter::sweep_affinity(const std::set<uint16_t>& revs) {
  if (revs.empty()) return;
  for (const auto& key : bpf::map_keys<myelin_lb_affinity_key>(aff_.get())) {
    if (key.rev_nat_index > 0xffff || !revs.count(static_cast<uint16_t>(key.rev_nat_index))) continue;
    myelin_lb_affinity_val v{};
    if (bpf_map_lookup_elem(aff_.get(), &key, &v) != 0) continue;
    bool ok = false;
    if (auto r = by_rev_.find(static_cast<uint16_t>(key.rev_nat_index)); r != by_rev_.end())
      for (const auto& [scope, e] : fes_.at(r->second).scopes)
        ok = ok || std::find(e.slots.begin(), e.slots.end(), v.backend_id) != e.slots.end();
    if (!ok) bpf_map_delete_elem(aff_.get(), &key);
  }
}

void LbWriter::apply(const ServiceTable& table, bool all_synced) {
  std::vector<RemovedBackend> removed;
  std::vector<BackendsRemoved> cbs;
  {
    std::lock_guard lock(mu_);
    const auto t0 = std::chrono::steady_clock::now();
    ++counters_.applies;
    std::vector<FrontendError> errs;

    // The table as frontends and backend values.
    std::map<FeKey, Want> wants;
    std::map<BeKey, myelin_lb_backend> be_want;
    for (const auto& [key, svc] : table) {
      if (!svc.not_proxied.empty()) continue;
      for (const auto& f : svc.frontends) {
        FeKey fk{f.addr.host, f.port, f.proto};
        if (auto other = wants.find(fk); other != wants.end()) {
          errs.push_back({svc.ns + "/" + svc.name, f.kind, f.addr, f.port, f.proto,
                          "frontend already served by " + other->second.ref.ns + "/" + other->second.ref.name, false});
          continue;
        }
        Want w;
        w.ref = {svc.ns, svc.name, f.kind, f.addr, f.port, f.proto};
        uint32_t flags = kind_flag(f.kind), timeout = 0;
        if (f.affinity) {
          flags |= MYELIN_LB_F_AFFINITY;
          timeout = f.affinity_timeout_s ? f.affinity_timeout_s : kDefaultAffinityTimeout;
        }
        std::vector<BeKey> active, local;
        for (const auto& b : f.backends) {
          BeKey bk{b.addr.host, b.port, b.proto};
          w.all.push_back(bk);
          auto [bv, fresh] = be_want.try_emplace(bk);
          if (fresh) {
            bv->second.addr.w[0] = b.addr.network_order();
            bv->second.port = htons(b.port);
            bv->second.proto = b.proto;
            bv->second.family = MYELIN_FAMILY_IPV4;
          }
          const bool external_set = f.kind != FrontendKind::cluster_ip && f.external_local && b.local && b.external_active;
          if (b.state == BackendState::active || external_set) bv->second.flags |= MYELIN_LB_BE_F_ACTIVE;
          if (b.terminating) bv->second.flags |= MYELIN_LB_BE_F_TERMINATING;
          if (b.local) bv->second.flags |= MYELIN_LB_BE_F_LOCAL;
          if (b.state == BackendState::active) active.push_back(bk);
          // Outside clients of an externalTrafficPolicy Local frontend: the
          // local set kube-proxy picks apart (Backend::external_active); an
          // internalTrafficPolicy Local ClusterIP: the local active ones.
          if (f.kind != FrontendKind::cluster_ip ? external_set : (b.local && b.state == BackendState::active)) local.push_back(bk);
        }
        const auto ext = static_cast<uint8_t>(MYELIN_LB_SCOPE_EXTERNAL), in = static_cast<uint8_t>(MYELIN_LB_SCOPE_INTERNAL);
        const bool external = f.kind != FrontendKind::cluster_ip;
        if (external && f.external_local) {
          w.scopes[ext] = {flags | MYELIN_LB_F_TWO_SCOPES, timeout, local};
          w.scopes[in] = {flags, timeout, active};
        } else if (!external && f.internal_local) {
          w.scopes[ext] = {flags | MYELIN_LB_F_LOCAL_ONLY, timeout, local};
        } else {
          w.scopes[ext] = {flags, timeout, active};
        }
        w.maglev = f.maglev || (external && opts_.algorithm == LbAlgorithm::maglev);
        w.source = source_hash(svc, f, w.maglev);
        wants.emplace(fk, std::move(w));
      }
    }

    // 1. Backends, before any slot names them.
    for (const auto& [bk, v] : be_want) {
      auto idit = be_ids_.find(bk);
      uint32_t id = idit == be_ids_.end() ? alloc_backend_id() : idit->second;
      restored_be_.erase(id);
      auto cur = be_.find(id);
      if (cur != be_.end() && std::memcmp(&cur->second, &v, sizeof v) == 0) continue;
      if (id == 0 || bpf_map_update_elem(be_fd_.get(), &id, &v, BPF_ANY) != 0) {
        if (cur == be_.end()) ++counters_.map_errors_backend;  // the frontends that need it fail in install()
        else log::warn(kLog, "update backend " + std::to_string(id) + ": " + std::strerror(errno));
        continue;
      }
      be_[id] = v;
      be_ids_[bk] = id;
    }
    if (all_synced) synced_ = true;

    std::set<uint16_t> sweep;
    // 2. Frontends the table lacks, first (their room may be needed): gone,
    // unless restored and the sources have not all synced.
    for (auto it = fes_.begin(); it != fes_.end();) {
      if (wants.count(it->first) || (it->second.restored && !synced_)) {
        ++it;
        continue;
      }
      if (it->second.restored) ++counters_.pruned_frontends;
      sweep.insert(it->second.rev);
      remove_frontend(it->first, it->second);
      it = fes_.erase(it);
    }
    grace_then_delete();
    // 3. Frontends, each complete or not at all.
    for (auto& [fk, w] : wants) {
      auto before = fes_.find(fk);
      std::set<uint32_t> old_slots;
      bool had_affinity = false;
      if (before != fes_.end())
        for (const auto& [s, e] : before->second.scopes) {
          old_slots.insert(e.slots.begin(), e.slots.end());
          had_affinity = had_affinity || (e.flags & MYELIN_LB_F_AFFINITY);
        }
      if (!install(fk, w, errs)) continue;
      const auto& fe = fes_.at(fk);
      std::set<uint32_t> new_slots;
      for (const auto& [s, e] : fe.scopes) new_slots.insert(e.slots.begin(), e.slots.end());
      if (had_affinity && !std::includes(new_slots.begin(), new_slots.end(), old_slots.begin(), old_slots.end())) sweep.insert(fe.rev);
    }

    if (synced_) {
      for (const auto& key : strays_) bpf_map_delete_elem(svc_.get(), &key);
      strays_.clear();
      for (uint16_t rev : orphan_revs_) {
        uint32_t r = rev;
        bpf_map_delete_elem(revnat_.get(), &r);
        sweep.insert(rev);
      }
      orphan_revs_.clear();
      for (uint32_t rev : orphan_maglev_) bpf_map_delete_elem(maglev_.get(), &rev);
      orphan_maglev_.clear();
      for (auto& [fk, fe] : fes_) fe.restored_backends.clear();
    }

    // 4. Backends no frontend holds any more (restored ones: once synced).
    std::set<uint32_t> held;
    for (const auto& [fk, fe] : fes_) held.insert(fe.held.begin(), fe.held.end());
    for (auto it = be_.begin(); it != be_.end();) {
      const uint32_t id = it->first;
      if (held.count(id) || (!synced_ && restored_be_.count(id))) {
        ++it;
        continue;
      }
      if (restored_be_.erase(id)) ++counters_.pruned_backends;
      const auto& b = it->second;
      removed.push_back({id, net::Ipv4{ntohl(b.addr.w[0])}, ntohs(b.port), b.proto});
      be_ids_.erase(BeKey{ntohl(b.addr.w[0]), ntohs(b.port), b.proto});
      it = be_.erase(it);
    }
    // A program may have read a slot holding one of them just before it
    // was rewritten: the slots past the counts and these go after a grace period.
    for (const auto& r : removed) retired_be_.push_back(r.id);
    grace_then_delete();
    counters_.backends_removed += removed.size();
    sweep_affinity(sweep);

    errors_ = std::move(errs);
    publish();
    counters_.last_apply_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!removed.empty()) cbs = removed_cbs_;
  }
  for (const auto& cb : cbs) cb(removed);
}

void LbWriter::publish() {
  auto idx = std::make_shared<FrontendIndex>();
  uint64_t entries = strays_.size();
  for (const auto& [fk, fe] : fes_) {
    (*idx)[fe.rev] = fe.ref;
    for (const auto& [s, e] : fe.scopes) entries += 1 + std::max<size_t>(e.slots.size(), e.stray_max);
  }
  svc_entries_ = entries;
  std::atomic_store(&index_, std::shared_ptr<const FrontendIndex>(std::move(idx)));
}

std::shared_ptr<const FrontendIndex> LbWriter::index() const { return std::atomic_load(&index_); }

void LbWriter::on_backends_removed(BackendsRemoved cb) {
  std::lock_guard lock(mu_);
  removed_cbs_.push_back(std::move(cb));
}

std::vector<FrontendError> LbWriter::errors() const {
  std::lock_guard lock(mu_);
  return errors_;
}

LbSummary LbWriter::summary() const {
  std::lock_guard lock(mu_);
  LbSummary s;
  for (const auto& [fk, fe] : fes_) {
    if (fe.restored) ++s.restored_frontends;
    else ++s.frontends[fe.ref.kind];
  }
  for (const auto& [id, b] : be_) {
    if (b.flags & MYELIN_LB_BE_F_ACTIVE) ++s.backends_active;
    else ++s.backends_terminating;
  }
  s.frontend_errors = errors_.size();
  s.synced = synced_;
  s.fill = {svc_entries_, svc_cap_, be_.size(), be_cap_, by_rev_.size() + orphan_revs_.size(), revnat_cap_, 0, maglev_cap_};
  for (const auto& [fk, fe] : fes_) s.fill.maglev_tables += fe.maglev;
  s.fill.maglev_tables += orphan_maglev_.size();
  s.counters = counters_;
  return s;
}

Result<LbDump> LbWriter::dump() const {
  LbDump d;
  for (const auto& key : bpf::map_keys<myelin_lb_svc_key>(svc_.get())) {
    myelin_lb_svc_val v{};
    if (bpf_map_lookup_elem(svc_.get(), &key, &v) == 0) d.svc.push_back({key, v});
  }
  std::sort(d.svc.begin(), d.svc.end(), [](const LbDump::Entry& a, const LbDump::Entry& b) {
    auto t = [](const myelin_lb_svc_key& k) { return std::tuple(ntohl(k.addr.w[0]), ntohs(k.dport), k.proto, k.scope, k.slot); };
    return t(a.key) < t(b.key);
  });
  for (uint32_t id : bpf::map_keys<uint32_t>(be_fd_.get())) {
    myelin_lb_backend b{};
    if (bpf_map_lookup_elem(be_fd_.get(), &id, &b) == 0) d.backends[id] = b;
  }
  for (uint32_t rev : bpf::map_keys<uint32_t>(revnat_.get())) {
    myelin_lb_revnat r{};
    if (bpf_map_lookup_elem(revnat_.get(), &rev, &r) == 0) d.revnat[rev] = r;
  }
  for (uint32_t rev : bpf::map_keys<uint32_t>(maglev_.get())) {
    uint32_t inner_id = 0;
    if (bpf_map_lookup_elem(maglev_.get(), &rev, &inner_id) != 0) continue;
    UniqueFd inner(bpf_map_get_fd_by_id(inner_id));
    bpf_map_info info{};
    uint32_t len = sizeof info;
    d.maglev[rev] = inner && bpf_obj_get_info_by_fd(inner.get(), &info, &len) == 0 ? info.max_entries : 0;
  }
  uint32_t k = 0;
  if (bpf_map_lookup_elem(cfg_.get(), &k, &d.config) != 0) return Error::from_errno("read the load-balancing config slot");
  return d;
}

uint32_t LbWriter::backend_id(net::Ipv4 addr, uint16_t port, uint8_t proto) const {
  std::lock_guard lock(mu_);
  auto it = be_ids_.find(BeKey{addr.host, port, proto});
  return it == be_ids_.end() ? 0 : it->second;
}

uint16_t LbWriter::rev_nat_index(net::Ipv4 addr, uint16_t port, uint8_t proto) const {
  std::lock_guard lock(mu_);
  auto it = fes_.find(FeKey{addr.host, port, proto});
  return it == fes_.end() ? 0 : it->second.rev;
}

}  // namespace myelin::services
