// SPDX-License-Identifier: Apache-2.0
// LbWriter: makes the pinned load-balancing maps (abi/lb.h, pinned by the
// pod datapath's object under the agent's --bpffs-root) hold a ServiceTable.
//
//   open()   the maps by pin name (their layout checked), the config slot
//            written, and what they hold read back: each frontend keeps its
//            rev_nat_index and each backend its id across restarts, since
//            conntrack entries and sockets carry them.
//   apply()  the table against what is installed, written as a diff in an
//            order the datapath never sees half a frontend: backends and the
//            reverse NAT first, new slots before slot 0 grows the count,
//            slot 0 before the tail it no longer counts is deleted, removed
//            backends last. A frontend whose new version does not fit (a
//            full map) keeps its previous version (or stays out) and is
//            reported per frontend, counted, never installed in part.
//            Until all_synced, what was restored from the maps and the table
//            lacks (frontends, and backends of a frontend) stays in use;
//            only then is it pruned.
//   Maglev   (--lb-algorithm maglev) a table per external frontend in an
//            inner ARRAY map, built complete and swapped into the hash of
//            maps in one update.
// It publishes the FrontendIndex after each apply, and tells who asked
// (socket LB: destroy the sockets connected to them) which backends it
// removed. Thread-safe: apply from the ServiceManager, the rest from API and
// metrics threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "myelin/abi/lb.h"
#include "myelin/fd.hpp"
#include "myelin/result.hpp"
#include "myelin/services/maglev.hpp"
#include "myelin/services/service_table.hpp"

namespace myelin::services {

enum class LbAlgorithm : uint8_t { random, maglev };
Result<LbAlgorithm> parse_lb_algorithm(const std::string& s);  // "random", "maglev"

struct LbWriterOptions {
  std::string pin_dir;  // where the pod datapath pinned the maps (the agent's --bpffs-root)
  // maglev: every NodePort, externalIP and LoadBalancer frontend (and any
  // the table marks maglev) picks by Maglev for clients from outside.
  LbAlgorithm algorithm = LbAlgorithm::random;
  uint32_t maglev_m = maglev::kDefaultTableSize;  // a prime (maglev::check_table_size)
  uint16_t node_port_min = 30000, node_port_max = 32767;
  // Returns once every BPF program that may have read the maps before the
  // call has finished: entries a program may still be about to read (the
  // slots past a count it just read, a backend a slot held) are deleted
  // only after it. Empty: synchronize_rcu() through membarrier(2) (BPF
  // programs run inside RCU read-side sections). Tests substitute their own.
  std::function<void()> grace_period;
};

// A backend the writer deleted from myelin_lb_be: no frontend lists it any more.
struct RemovedBackend {
  uint32_t id = 0;
  net::Ipv4 addr;
  uint16_t port = 0;  // host order
  uint8_t proto = 0;
};
using BackendsRemoved = std::function<void(const std::vector<RemovedBackend>&)>;

// A frontend the last apply could not install as the table says.
struct FrontendError {
  std::string service;  // "ns/name"
  FrontendKind kind = FrontendKind::cluster_ip;
  net::Ipv4 addr;
  uint16_t port = 0;
  uint8_t proto = 0;
  std::string message;       // what did not fit, or what conflicts
  bool kept_previous = false;  // its previous version is still installed
};

// What the writer did, for metrics and status.
struct LbCounters {
  uint64_t applies = 0;
  uint64_t map_errors_svc = 0, map_errors_backend = 0, map_errors_revnat = 0, map_errors_maglev = 0;
  uint64_t backends_removed = 0;
  uint64_t pruned_frontends = 0, pruned_backends = 0;  // restored, pruned at all_synced
  uint64_t maglev_tables_written = 0;
  double last_apply_seconds = 0;
};

struct LbFill {
  uint64_t svc_entries = 0, svc_capacity = 0;
  uint64_t backends = 0, backend_capacity = 0;
  uint64_t revnat = 0, revnat_capacity = 0;
  uint64_t maglev_tables = 0, maglev_capacity = 0;
};

struct LbSummary {
  std::map<FrontendKind, uint64_t> frontends;  // installed, by kind
  uint64_t restored_frontends = 0;             // restored and not (yet) in a table
  uint64_t backends_active = 0, backends_terminating = 0;
  uint64_t frontend_errors = 0;
  bool synced = false;
  LbFill fill;
  LbCounters counters;
};

// What the maps hold, read from the kernel (for `myelin bpf lb list`).
struct LbDump {
  struct Entry {
    myelin_lb_svc_key key;
    myelin_lb_svc_val val;
  };
  std::vector<Entry> svc;  // sorted by frontend, scope, slot
  std::map<uint32_t, myelin_lb_backend> backends;
  std::map<uint32_t, myelin_lb_revnat> revnat;
  std::map<uint32_t, uint32_t> maglev;  // rev_nat_index -> the table's size
  myelin_lb_config config{};
};

class LbWriter : public TableSink {
 public:
  static Result<std::unique_ptr<LbWriter>> open(const LbWriterOptions& o);
  ~LbWriter() override;
  LbWriter(const LbWriter&) = delete;
  LbWriter& operator=(const LbWriter&) = delete;

  void apply(const ServiceTable& table, bool all_synced) override;

  // rev_nat_index -> frontend, as of the last apply (restored frontends not
  // yet in a table have an empty ns/name). Never null.
  std::shared_ptr<const FrontendIndex> index() const;
  // Called (outside the writer's lock) after each apply that removed backends.
  void on_backends_removed(BackendsRemoved cb);
  std::vector<FrontendError> errors() const;
  LbSummary summary() const;
  Result<LbDump> dump() const;
  const LbWriterOptions& options() const { return opts_; }
  // "restored 3 frontends, 7 backends from the pinned maps" (open()).
  const std::string& restore_report() const { return restore_report_; }

  // Backend id of an address (tests, socket LB): 0 if none.
  uint32_t backend_id(net::Ipv4 addr, uint16_t port, uint8_t proto) const;
  // rev_nat_index of a frontend: 0 if none.
  uint16_t rev_nat_index(net::Ipv4 addr, uint16_t port, uint8_t proto) const;

 private:
  struct FeKey {
    uint32_t addr = 0;  // host order
    uint16_t port = 0;  // host order
    uint8_t proto = 0;
    auto operator<=>(const FeKey&) const = default;
  };
  using BeKey = FeKey;
  struct ScopeEntry {
    uint32_t flags = 0, affinity_timeout = 0;
    std::vector<uint32_t> slots;  // backend ids of slots 1..n (0: a slot the maps lack)
    uint16_t stray_max = 0;       // restored slots beyond the count, to delete
    bool operator==(const ScopeEntry& o) const {
      return flags == o.flags && affinity_timeout == o.affinity_timeout && slots == o.slots;
    }
  };
  struct Installed {
    uint16_t rev = 0;
    std::map<uint8_t, ScopeEntry> scopes;  // by myelin_lb_scope
    std::set<uint32_t> held;               // backend ids it keeps in myelin_lb_be
    bool maglev = false;                   // a table is in myelin_lb_maglev
    uint64_t maglev_digest = 0;            // of the table written (0: unknown, restored)
    FrontendRef ref;
    uint64_t source = 0;                   // hash of the Frontend it was written from (0: none)
    bool restored = false;                 // from the maps, not in a table yet
    std::set<uint32_t> restored_backends;  // restored slot ids the table has not listed for it yet
  };
  struct Want;

  explicit LbWriter(LbWriterOptions o) : opts_(std::move(o)) {}
  Status open_maps();
  Status write_config();
  Status restore();
  uint16_t alloc_rev();
  uint32_t alloc_backend_id();
  bool install(const FeKey& k, Want& w, std::vector<FrontendError>& errs);
  void remove_frontend(const FeKey& k, Installed& fe);
  void retire(const FeKey& k, uint8_t scope, size_t from, size_t to);  // slots [from, to] deleted after a grace period
  void grace_then_delete();
  bool write_maglev(Installed& fe, const std::vector<uint32_t>& ids);
  void delete_maglev(Installed& fe);
  void sweep_affinity(const std::set<uint16_t>& revs);
  void publish();
  myelin_lb_svc_key svc_key(const FeKey& k, uint8_t scope, uint16_t slot) const;

  LbWriterOptions opts_;
  UniqueFd svc_, be_fd_, revnat_, aff_, maglev_, cfg_;
  uint32_t svc_cap_ = 0, be_cap_ = 0, revnat_cap_ = 0, maglev_cap_ = 0;

  mutable std::mutex mu_;
  std::map<FeKey, Installed> fes_;
  std::map<uint16_t, FeKey> by_rev_;
  std::set<uint16_t> orphan_revs_;  // restored reverse NAT entries of no frontend (pruned at sync)
  std::vector<myelin_lb_svc_key> strays_;  // restored slots of no slot 0 (pruned at sync)
  std::set<uint32_t> orphan_maglev_;       // restored tables of no frontend (pruned at sync)
  std::map<BeKey, uint32_t> be_ids_;
  std::map<uint32_t, myelin_lb_backend> be_;
  std::set<uint32_t> restored_be_;  // restored backend ids no table has listed yet
  uint16_t rev_cursor_ = 0;
  uint32_t be_cursor_ = 0;
  uint64_t svc_entries_ = 0;
  bool synced_ = false;
  std::vector<myelin_lb_svc_key> retired_svc_;  // deleted after the next grace period
  std::vector<uint32_t> retired_revnat_, retired_be_;
  std::vector<FrontendError> errors_;
  LbCounters counters_;
  std::shared_ptr<const FrontendIndex> index_ = std::make_shared<FrontendIndex>();
  std::vector<BackendsRemoved> removed_cbs_;
  std::string restore_report_;
};

}  // namespace myelin::services
