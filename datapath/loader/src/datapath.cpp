// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/datapath.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <arpa/inet.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "lxc.skel.h"
#include "myelin/abi/nat.h"
#include "myelin/bpf/map_keys.hpp"
#include "myelin/bpf/tc_hook.hpp"
#include "myelin/log.hpp"

namespace myelin::datapath {
namespace {

using bpf::map_keys;

// tc filter identity of Myelin's programs on a pod veth: fixed, so a new
// agent replaces the old program in place (BPF_TC_F_REPLACE) with no gap.
constexpr uint32_t kTcHandle = 0x4d4c;
constexpr uint32_t kTcPriority = 1;

bpf::TcHook tc_hook(int ifindex, bpf::TcHook::Side side) { return bpf::TcHook(ifindex, side, kTcHandle, kTcPriority); }

}  // namespace

Status make_pin_dir(const std::string& pin_dir) {
  std::error_code ec;
  std::filesystem::create_directories(pin_dir, ec);
  if (ec) return Error{"create " + pin_dir + ": " + ec.message()};
  struct statfs st{};
  if (statfs(pin_dir.c_str(), &st) != 0) return Error::from_errno("statfs " + pin_dir);
  if (st.f_type != BPF_FS_MAGIC) return Error{pin_dir + " is not on a bpffs: maps cannot be pinned there"};
  return {};
}

std::chrono::seconds ct_timeout(const CtTimeouts& t, uint8_t proto, uint8_t state) {
  if (proto == 6) {
    switch (state) {
      case MYELIN_CT_SYN_SENT:
      case MYELIN_CT_SYN_RECV: return t.tcp_syn;
      case MYELIN_CT_ESTABLISHED: return t.tcp_established;
      default: return t.tcp_closing;  // FIN_WAIT, CLOSING, CLOSED
    }
  }
  if (proto == 17) return t.udp;
  if (proto == 1) return t.icmp;
  return t.other;
}

std::vector<std::pair<uint16_t, uint8_t>> port_range_prefixes(uint16_t lo, uint16_t hi) {
  std::vector<std::pair<uint16_t, uint8_t>> out;
  if (lo > hi) return out;
  uint32_t start = lo;
  while (start <= hi) {
    // The largest aligned block starting at `start` that stays within hi.
    uint32_t size = start == 0 ? 0x10000 : (start & -start);
    while (start + size - 1 > hi) size >>= 1;
    uint8_t bits = 16;
    for (uint32_t s = size; s > 1; s >>= 1) --bits;
    out.emplace_back(static_cast<uint16_t>(start), bits);
    start += size;
  }
  return out;
}

myelin_policy_key policy_key(uint32_t ep_id, uint8_t dir, uint8_t proto, uint32_t identity, uint16_t port,
                             uint8_t port_bits) {
  myelin_policy_key k{};
  k.prefixlen = MYELIN_POLICY_PREFIX_NOPORT + port_bits;
  k.ep_id = ep_id;
  k.dir = dir;
  k.proto = proto;
  k.identity = identity;
  k.dport = htons(port);
  return k;
}

Result<MapSizes> parse_map_sizes(const std::string& spec) {
  MapSizes out;
  const std::pair<const char*, uint32_t MapSizes::*> names[] = {
      {"endpoints", &MapSizes::endpoints}, {"conntrack", &MapSizes::conntrack}, {"ipcache", &MapSizes::ipcache},
      {"policy", &MapSizes::policy},       {"fragments", &MapSizes::fragments}};
  size_t start = 0;
  while (start < spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    std::string item = spec.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    auto eq = item.find('=');
    std::string name = item.substr(0, eq), num = eq == std::string::npos ? "" : item.substr(eq + 1);
    auto it = std::find_if(std::begin(names), std::end(names), [&](const auto& n) { return name == n.first; });
    if (it == std::end(names)) return Error{"'" + name + "' is not a map that can be sized (endpoints, conntrack, ipcache, policy, fragments)"};
    if (num.empty() || num.size() > 9 || num.find_first_not_of("0123456789") != std::string::npos || std::stoul(num) == 0)
      return Error{"'" + item + "': the size must be a positive number of entries"};
    out.*(it->second) = static_cast<uint32_t>(std::stoul(num));
  }
  return out;
}

Result<std::unique_ptr<Datapath>> Datapath::load(const Options& o) {
  auto dp = std::unique_ptr<Datapath>(new Datapath());
  dp->adopted_ = ::access((o.pin_dir + "/" MYELIN_MAP_ENDPOINTS).c_str(), F_OK) == 0;
  dp->ncpus_ = libbpf_num_possible_cpus();
  if (dp->ncpus_ <= 0) return Error{"cannot count possible CPUs"};

  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = o.pin_dir.c_str());
  auto skel = bpf::Skeleton<lxc>::open("lxc", &opts);
  if (!skel) return skel.error();
  dp->skel_ = std::move(*skel);
  auto& s = dp->skel_;
  s->rodata->cfg_redirect_peer = o.redirect_peer ? 1 : 0;
  if (o.events_bytes) {
    // A power of two of at least one page; a pinned ring of another size is refused at load.
    if (o.events_bytes < 4096 || (o.events_bytes & (o.events_bytes - 1)))
      return Error{"ring buffer size must be a power of two of at least 4096 bytes, not " + std::to_string(o.events_bytes)};
    if (int err = bpf_map__set_max_entries(s->maps.myelin_events, o.events_bytes); err)
      return Error::from_errno("set ring buffer size", -err);
  }
  for (auto [map, n] : {std::pair{s->maps.myelin_ep, o.sizes.endpoints}, std::pair{s->maps.myelin_ct, o.sizes.conntrack},
                        std::pair{s->maps.myelin_ipcache, o.sizes.ipcache}, std::pair{s->maps.myelin_pol_allow, o.sizes.policy},
                        std::pair{s->maps.myelin_pol_deny, o.sizes.policy}, std::pair{s->maps.myelin_frag, o.sizes.fragments}})
    if (n)
      if (int err = bpf_map__set_max_entries(map, n); err) return Error::from_errno(std::string("size ") + bpf_map__name(map), -err);
  // Before load: which pins to adopt, migrate or create; refuses a newer
  // layout (a downgrade) before anything is touched.
  auto pins = PinnedMaps::plan(s->obj, o.pin_dir);
  if (!pins) return pins.error();
  dp->pins_ = std::move(*pins);
  if (auto st = s.load(); !st) return Error{st.error().message + " (maps pinned in " + o.pin_dir + ")", st.error().code};
  if (auto st = dp->pins_.apply(s->obj); !st) return st.error();
  for (const auto& m : dp->pins_.report()) log::info("datapath", "upgrade: migrated " + m);
  return dp;
}

int Datapath::from_container_fd() const { return bpf_program__fd(skel_->progs.from_container); }
int Datapath::to_container_fd() const { return bpf_program__fd(skel_->progs.to_container); }
int Datapath::endpoints_fd() const { return bpf_map__fd(skel_->maps.myelin_ep); }
int Datapath::ct_fd() const { return bpf_map__fd(skel_->maps.myelin_ct); }
int Datapath::events_fd() const { return bpf_map__fd(skel_->maps.myelin_events); }

int Datapath::map_fd(const char* name) const {
  bpf_map* m = bpf_object__find_map_by_name(skel_->obj, name);
  return m ? bpf_map__fd(m) : -1;
}

Status Datapath::endpoint_upsert(const myelin_ep_key& k, const myelin_ep_info& v) {
  if (bpf_map_update_elem(endpoints_fd(), &k, &v, BPF_ANY) != 0)
    return Error::from_errno("update " MYELIN_MAP_ENDPOINTS);
  return {};
}

Status Datapath::endpoint_delete(const myelin_ep_key& k) {
  if (bpf_map_delete_elem(endpoints_fd(), &k) != 0 && errno != ENOENT)
    return Error::from_errno("delete from " MYELIN_MAP_ENDPOINTS);
  return {};
}

std::optional<myelin_ep_info> Datapath::endpoint_get(const myelin_ep_key& k) const {
  myelin_ep_info v{};
  if (bpf_map_lookup_elem(endpoints_fd(), &k, &v) != 0) return std::nullopt;
  return v;
}

std::vector<std::pair<myelin_ep_key, myelin_ep_info>> Datapath::endpoints() const {
  std::vector<std::pair<myelin_ep_key, myelin_ep_info>> out;
  for (const auto& k : map_keys<myelin_ep_key>(endpoints_fd())) {
    myelin_ep_info v{};
    if (bpf_map_lookup_elem(endpoints_fd(), &k, &v) == 0) out.emplace_back(k, v);
  }
  return out;
}

myelin_stats Datapath::stats() const {
  std::vector<myelin_stats> percpu(static_cast<size_t>(ncpus_));
  myelin_stats sum{};
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.myelin_stats), &zero, percpu.data()) != 0) return sum;
  for (const auto& s : percpu) {
    sum.events_sent += s.events_sent;
    sum.events_lost += s.events_lost;
    sum.ct_insert_failed += s.ct_insert_failed;
    sum.arp_replies += s.arp_replies;
    sum.metrics_update_failed += s.metrics_update_failed;
    sum.frag_tracked += s.frag_tracked;
    sum.redirect_peer += s.redirect_peer;
    sum.redirect += s.redirect;
    sum.to_stack += s.to_stack;
  }
  return sum;
}

std::vector<std::pair<myelin_metrics_key, myelin_metrics_val>> Datapath::metrics() const {
  std::vector<std::pair<myelin_metrics_key, myelin_metrics_val>> out;
  std::vector<myelin_metrics_val> percpu(static_cast<size_t>(ncpus_));
  const int fd = bpf_map__fd(skel_->maps.myelin_metrics);
  for (const auto& k : map_keys<myelin_metrics_key>(fd)) {
    if (bpf_map_lookup_elem(fd, &k, percpu.data()) != 0) continue;
    myelin_metrics_val sum{};
    for (const auto& v : percpu) {
      sum.packets += v.packets;
      sum.bytes += v.bytes;
    }
    out.emplace_back(k, sum);
  }
  return out;
}

Status Datapath::ipcache_upsert(const myelin_ipcache_key& k, const myelin_ipcache_val& v) {
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.myelin_ipcache), &k, &v, BPF_ANY) != 0) return Error::from_errno("update " MYELIN_MAP_IPCACHE);
  return {};
}

Status Datapath::ipcache_delete(const myelin_ipcache_key& k) {
  if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.myelin_ipcache), &k) != 0 && errno != ENOENT) return Error::from_errno("delete from " MYELIN_MAP_IPCACHE);
  return {};
}

std::vector<std::pair<myelin_ipcache_key, myelin_ipcache_val>> Datapath::ipcache_entries() const {
  std::vector<std::pair<myelin_ipcache_key, myelin_ipcache_val>> out;
  const int fd = bpf_map__fd(skel_->maps.myelin_ipcache);
  for (const auto& k : map_keys<myelin_ipcache_key>(fd)) {
    myelin_ipcache_val v{};
    if (bpf_map_lookup_elem(fd, &k, &v) == 0) out.emplace_back(k, v);
  }
  return out;
}

Status Datapath::set_node_config(const myelin_node_config& c) {
  uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.myelin_node), &zero, &c, BPF_ANY) != 0) return Error::from_errno("update " MYELIN_MAP_NODE);
  return {};
}

myelin_node_config Datapath::node_config() const {
  uint32_t zero = 0;
  myelin_node_config c{};
  (void)bpf_map_lookup_elem(bpf_map__fd(skel_->maps.myelin_node), &zero, &c);
  return c;
}

Status Datapath::policy_upsert(bool deny, const myelin_policy_key& k, const myelin_policy_val& v) {
  // A full map is an error the caller must report; the datapath never
  // allows what it could not store (the entry is simply absent: default deny).
  if (bpf_map_update_elem(bpf_map__fd(deny ? skel_->maps.myelin_pol_deny : skel_->maps.myelin_pol_allow), &k, &v, BPF_ANY) != 0)
    return Error::from_errno(std::string("update ") + (deny ? MYELIN_MAP_POL_DENY : MYELIN_MAP_POL_ALLOW));
  return {};
}

Status Datapath::policy_delete(bool deny, const myelin_policy_key& k) {
  if (bpf_map_delete_elem(bpf_map__fd(deny ? skel_->maps.myelin_pol_deny : skel_->maps.myelin_pol_allow), &k) != 0 && errno != ENOENT)
    return Error::from_errno(std::string("delete from ") + (deny ? MYELIN_MAP_POL_DENY : MYELIN_MAP_POL_ALLOW));
  return {};
}

uint64_t Datapath::ct_count() const { return map_keys<myelin_ct_key>(ct_fd()).size(); }

uint32_t Datapath::capacity(const char* map_name) const {
  bpf_map* m = bpf_object__find_map_by_name(skel_->obj, map_name);
  return m ? bpf_map__max_entries(m) : 0;
}

namespace {

// Bytes a ring buffer holds that its reader has not consumed: producer minus
// consumer position, read from the two pages the kernel lets anyone with the
// fd map read-only.
uint64_t ring_pending(int fd) {
  const long page = sysconf(_SC_PAGESIZE);
  void* cons = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, 0);
  if (cons == MAP_FAILED) return 0;
  void* prod = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, page);
  uint64_t pending = 0;
  if (prod != MAP_FAILED) {
    auto c = __atomic_load_n(static_cast<const unsigned long*>(cons), __ATOMIC_ACQUIRE);
    auto p = __atomic_load_n(static_cast<const unsigned long*>(prod), __ATOMIC_ACQUIRE);
    pending = p > c ? p - c : 0;
    munmap(prod, page);
  }
  munmap(cons, page);
  return pending;
}

}  // namespace

std::vector<MapFill> Datapath::map_fill() const {
  std::vector<MapFill> out;
  auto add = [&](const char* name, uint64_t n) { out.push_back({name, n, capacity(name)}); };
  add(MYELIN_MAP_ENDPOINTS, map_keys<myelin_ep_key>(endpoints_fd()).size());
  add(MYELIN_MAP_CT, ct_count());
  add(MYELIN_MAP_FRAG, map_keys<myelin_frag_key>(map_fd(MYELIN_MAP_FRAG)).size());
  add(MYELIN_MAP_METRICS, map_keys<myelin_metrics_key>(map_fd(MYELIN_MAP_METRICS)).size());
  add(MYELIN_MAP_IPCACHE, map_keys<myelin_ipcache_key>(map_fd(MYELIN_MAP_IPCACHE)).size());
  add(MYELIN_MAP_POL_ALLOW, map_keys<myelin_policy_key>(map_fd(MYELIN_MAP_POL_ALLOW)).size());
  add(MYELIN_MAP_POL_DENY, map_keys<myelin_policy_key>(map_fd(MYELIN_MAP_POL_DENY)).size());
  add(MYELIN_MAP_EVENTS, ring_pending(events_fd()));
  add(MYELIN_MAP_SNAT, map_keys<myelin_snat_key>(map_fd(MYELIN_MAP_SNAT)).size());
  return out;
}

std::vector<std::pair<myelin_ct_key, myelin_ct_entry>> Datapath::ct_entries() const {
  std::vector<std::pair<myelin_ct_key, myelin_ct_entry>> out;
  for (const auto& k : map_keys<myelin_ct_key>(ct_fd())) {
    myelin_ct_entry e{};
    if (bpf_map_lookup_elem(ct_fd(), &k, &e) == 0) out.emplace_back(k, e);
  }
  return out;
}

Result<CtGcResult> Datapath::ct_gc(const CtTimeouts& t, uint64_t now) {
  CtGcResult r;
  // Keys are collected first: deleting while walking get_next_key restarts the walk.
  for (const auto& [k, e] : ct_entries()) {
    ++r.scanned;
    uint64_t ttl_ns = static_cast<uint64_t>(ct_timeout(t, k.proto, e.state).count()) * 1000000000ull;
    if (now > e.last_seen_ns && now - e.last_seen_ns > ttl_ns) {
      if (bpf_map_delete_elem(ct_fd(), &k) == 0 || errno == ENOENT) {
        ++r.deleted;
        continue;
      }
      return Error::from_errno("delete from " MYELIN_MAP_CT);
    }
    if (e.state < r.alive_by_state.size()) ++r.alive_by_state[e.state];
  }
  if (auto st = snat_gc(t, now, r); !st) return st.error();
  return r;
}

// A pod's translation lives as long as conntrack has its flow (the pod ->
// peer tuple from_container tracked): both of its entries go with it, and an
// INGRESS entry whose EGRESS one went (evicted) too. The node's own flows'
// port records (F_HOST) go when idle for their protocol's conntrack timeout.
Status Datapath::snat_gc(const CtTimeouts& t, uint64_t now, CtGcResult& r) {
  int fd = map_fd(MYELIN_MAP_SNAT);
  if (fd < 0) return {};
  auto del = [&](const myelin_snat_key& k) -> Status {
    if (bpf_map_delete_elem(fd, &k) == 0) {
      ++r.snat_deleted;
      return {};
    }
    if (errno == ENOENT) return {};
    return Error::from_errno("delete from " MYELIN_MAP_SNAT);
  };
  // The other direction's key of an entry, and whether it points back.
  auto other = [](const myelin_snat_key& k, const myelin_snat_entry& e) {
    myelin_snat_key o{};
    o.proto = k.proto;
    o.family = k.family;
    if (k.dir == MYELIN_SNAT_EGRESS) {
      o.dir = MYELIN_SNAT_INGRESS;
      o.saddr = k.daddr;
      o.daddr = e.to_addr;
      o.sport = k.dport;
      o.dport = e.to_port;
    } else {
      o.dir = MYELIN_SNAT_EGRESS;
      o.saddr = e.to_addr;
      o.daddr = k.saddr;
      o.sport = e.to_port;
      o.dport = k.sport;
    }
    return o;
  };
  for (const auto& k : map_keys<myelin_snat_key>(fd)) {
    myelin_snat_entry e{};
    if (bpf_map_lookup_elem(fd, &k, &e) != 0) continue;
    ++r.snat_scanned;
    if (e.flags & MYELIN_SNAT_F_HOST) {
      uint64_t ttl_ns = static_cast<uint64_t>(ct_timeout(t, k.proto, MYELIN_CT_ESTABLISHED).count()) * 1000000000ull;
      if (now > e.last_seen_ns && now - e.last_seen_ns > ttl_ns)
        if (auto st = del(k); !st) return st;
      continue;
    }
    myelin_snat_key o = other(k, e);
    myelin_snat_entry oe{};
    bool paired = bpf_map_lookup_elem(fd, &o, &oe) == 0 && other(o, oe).saddr.w[0] == k.saddr.w[0] &&
                  other(o, oe).sport == k.sport && other(o, oe).dport == k.dport;
    bool alive = paired;
    if (alive && k.dir == MYELIN_SNAT_EGRESS) {
      myelin_ct_key ck{};
      ck.saddr = k.saddr;
      ck.daddr = k.daddr;
      ck.sport = k.sport;
      ck.dport = k.dport;  // ICMP echo: the reply type, 0
      ck.proto = k.proto;
      ck.family = k.family;
      myelin_ct_entry ce{};
      alive = bpf_map_lookup_elem(ct_fd(), &ck, &ce) == 0;
    }
    if (alive) continue;
    if (auto st = del(k); !st) return st;
    if (paired)
      if (auto st = del(o); !st) return st;
  }
  return {};
}

Status Datapath::attach(int ifindex) {
  if (auto st = bpf::TcHook::create_clsact(ifindex); !st) return st;
  if (auto st = tc_hook(ifindex, bpf::TcHook::Side::ingress).attach(from_container_fd()); !st) return st;
  return tc_hook(ifindex, bpf::TcHook::Side::egress).attach(to_container_fd());
}

Status Datapath::detach(int ifindex) {
  for (auto side : {bpf::TcHook::Side::ingress, bpf::TcHook::Side::egress})
    if (auto st = tc_hook(ifindex, side).detach(); !st) return st;
  return {};
}

bool Datapath::attached(int ifindex) const {
  return tc_hook(ifindex, bpf::TcHook::Side::ingress).attached() && tc_hook(ifindex, bpf::TcHook::Side::egress).attached();
}

Status Datapath::unpin_all(const std::string& pin_dir) {
  std::error_code ec;
  std::filesystem::remove_all(pin_dir, ec);
  if (ec) return Error{"remove " + pin_dir + ": " + ec.message()};
  return {};
}

}  // namespace myelin::datapath
