// SPDX-License-Identifier: Apache-2.0
#include "myelin/kvstore/cluster_sync.hpp"

#include <algorithm>

#include "myelin/kvstore/records.hpp"
#include "myelin/log.hpp"

namespace myelin::kvstore {

std::string degraded_reason(const SyncStats& s) {
  const std::string keeps = "; the datapath keeps the cluster state it had";
  std::string why;
  if (!s.reachable) why = "etcd " + s.endpoint + " unreachable";
  else if (!s.session) why = "no live lease in etcd " + s.endpoint + " (this node's records may have expired)";
  else if (!s.synced) why = "not yet listed nodes and endpoints from etcd " + s.endpoint;
  else if (!s.nodes_watch || !s.endpoints_watch) why = "watch of etcd " + s.endpoint + " disconnected";
  else if (!s.published) why = "this node's records not all written to etcd " + s.endpoint;
  if (why.empty()) return {};
  if (!s.last_error.empty()) why += ": " + s.last_error;
  return why + keeps;
}

ClusterSync::ClusterSync(Etcd& etcd, cluster::ClusterState& state, ClusterSyncOptions o)
    : etcd_(etcd), state_(state), o_(std::move(o)), nodes_prefix_(nodes_prefix(o_.cluster)), endpoints_prefix_(endpoints_prefix(o_.cluster)) {}

ClusterSync::~ClusterSync() { stop(); }

void ClusterSync::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
  nodes_watcher_ = Watcher::start(etcd_, nodes_prefix_,
                                  {[this](std::vector<KeyValue> all, int64_t) { on_nodes_relist(std::move(all)); },
                                   [this](const WatchEvent& ev) { on_nodes_event(ev); },
                                   [this](bool up) { nodes_watch_ = up; }});
  endpoints_watcher_ = Watcher::start(etcd_, endpoints_prefix_,
                                      {[this](std::vector<KeyValue> all, int64_t) { on_endpoints_relist(std::move(all)); },
                                       [this](const WatchEvent& ev) { on_endpoints_event(ev); },
                                       [this](bool up) { endpoints_watch_ = up; }});
}

void ClusterSync::stop() {
  // Watchers first: their callbacks touch the publisher's state.
  nodes_watcher_.reset();
  endpoints_watcher_.reset();
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  own_session_.reset();  // not revoked (etcd.hpp)
}

void ClusterSync::wake() {
  {
    std::lock_guard lk(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

void ClusterSync::endpoints_changed() { wake(); }
void ClusterSync::lease_changed() { wake(); }

void ClusterSync::failed(std::atomic<uint64_t>& counter, const std::string& what) {
  ++counter;
  std::lock_guard lk(stats_mu_);
  if (last_error_ != what) log::warn("kvstore", what);
  last_error_ = what;
  last_error_at_ = std::chrono::system_clock::now();
}

void ClusterSync::run() {
  auto backoff = o_.retry;
  auto wait = std::chrono::milliseconds(0);
  bool retrying = true;  // the first pass
  for (;;) {
    bool woken;
    {
      std::unique_lock lk(mu_);
      woken = cv_.wait_for(lk, wait, [this] { return stopping_ || dirty_; });
      if (stopping_) return;
      dirty_ = false;
    }
    // An idle wake-up computes nothing (the endpoints are asked only when
    // something changed): it only looks for a new lease of a shared session.
    const bool lease_moved = session_ && session_->lease() != 0 && session_->lease() != published_lease();
    if (!woken && !retrying && !lease_moved) {
      session_alive_ = session_->alive();
      continue;
    }
    if (pass()) {
      retrying = false;
      backoff = o_.retry;
      wait = o_.resync;
      // Changes in bursts (a node's pods restored, a rollout) coalesce: at
      // most one pass per min_gap.
      std::this_thread::sleep_for(o_.min_gap);
    } else {
      retrying = true;
      wait = backoff;
      backoff = std::min(backoff * 2, o_.max_retry);
    }
  }
}

int64_t ClusterSync::published_lease() const {
  std::lock_guard lk(pub_mu_);
  return published_lease_;
}

bool ClusterSync::pass() {
  if (!session_) {
    if (o_.session) {
      session_ = o_.session;
    } else {
      auto s = Session::open(etcd_, o_.lease_ttl, [this](int64_t) { wake(); });
      if (!s) {
        session_alive_ = false;
        failed(session_errors_, "granting a lease: " + s.error().message);
        return false;
      }
      own_session_ = std::move(*s);
      session_ = own_session_.get();
    }
  }
  session_alive_ = session_->alive();
  const int64_t lease = session_->lease();
  if (lease == 0) {
    failed(session_errors_, "no lease from etcd yet");
    return false;
  }

  // What this node says: its record and its endpoints.
  std::map<std::string, std::string> desired;
  desired[node_key(o_.cluster, o_.node.name)] = encode_node(o_.node);
  if (o_.local_endpoints)
    for (auto e : o_.local_endpoints()) {
      e.node = o_.node.name;
      desired[endpoint_key(o_.cluster, e.ip)] = encode_endpoint(e);
    }

  std::vector<std::pair<std::string, std::string>> puts;
  std::vector<std::string> dels;
  bool cleanup_now = false;
  {
    std::lock_guard lk(pub_mu_);
    if (lease != published_lease_) {
      if (published_lease_ != 0) log::info("kvstore", "new lease " + std::to_string(lease) + ": writing this node's records again");
      published_.clear();
      published_lease_ = lease;
      need_cleanup_ = true;
      ++leases_;
    }
    for (const auto& [k, v] : desired)
      if (auto it = published_.find(k); it == published_.end() || it->second != v) puts.emplace_back(k, v);
    // The node record first: a watcher then never sees endpoints of a node it does not know.
    std::stable_partition(puts.begin(), puts.end(), [&](const auto& kv) { return kv.first.rfind(nodes_prefix_, 0) == 0; });
    for (const auto& [k, v] : published_)
      if (!desired.count(k)) dels.push_back(k);
    cleanup_now = need_cleanup_;
    all_published_ = puts.empty() && dels.empty() && !cleanup_now;
  }
  if (puts.empty() && dels.empty() && !cleanup_now) return true;

  for (const auto& [k, v] : puts) {
    if (auto s = etcd_.put(k, v, lease); !s) {
      failed(write_errors_, "writing " + k + ": " + s.error().message);
      return false;
    }
    ++puts_;
    std::lock_guard lk(pub_mu_);
    if (published_lease_ == lease) published_[k] = v;
  }
  for (const auto& k : dels) {
    if (auto s = etcd_.del(k); !s) {
      failed(write_errors_, "deleting " + k + ": " + s.error().message);
      return false;
    }
    ++deletes_;
    std::lock_guard lk(pub_mu_);
    published_.erase(k);
  }
  if (cleanup_now && !cleanup(lease, desired)) return false;
  std::lock_guard lk(pub_mu_);
  all_published_ = published_lease_ == lease && !need_cleanup_;
  // Another change may have come in meanwhile: the next pass sees it.
  return true;
}

// This node's endpoint records the store still holds from before this lease
// (an earlier run's, under a lease not yet expired) that are no longer ours
// to publish: removed now rather than after the old lease's TTL.
bool ClusterSync::cleanup(int64_t lease, const std::map<std::string, std::string>& desired) {
  auto all = etcd_.list(endpoints_prefix_);
  if (!all) {
    failed(write_errors_, "listing " + endpoints_prefix_ + ": " + all.error().message);
    return false;
  }
  for (const auto& kv : all->first) {
    if (desired.count(kv.key)) continue;
    auto name = key_name(endpoints_prefix_, kv.key);
    if (!name) continue;
    auto e = decode_endpoint(*name, kv.value);
    if (!e || e->node != o_.node.name) continue;
    auto gone = etcd_.delete_if(kv.key, kv.mod_revision);
    if (!gone) {
      failed(write_errors_, "deleting stale " + kv.key + ": " + gone.error().message);
      return false;
    }
    if (*gone) {
      ++deletes_;
      log::info("kvstore", "deleted " + kv.key + ": this node no longer has that endpoint");
    }
  }
  std::lock_guard lk(pub_mu_);
  if (published_lease_ == lease) need_cleanup_ = false;
  return true;
}

void ClusterSync::forget_published(const std::string& key) {
  {
    std::lock_guard lk(pub_mu_);
    if (!published_.erase(key)) return;
    all_published_ = false;
  }
  wake();
}

void ClusterSync::refuse(const std::string& key, const std::string& why) {
  ++decode_errors_;
  std::lock_guard lk(stats_mu_);
  auto [it, fresh] = refused_.insert_or_assign(key, why);
  (void)it;
  if (fresh) log::warn("kvstore", "refused " + why);
}

void ClusterSync::accept(const std::string& key) {
  std::lock_guard lk(stats_mu_);
  refused_.erase(key);
}

void ClusterSync::listed(bool nodes) {
  bool both;
  {
    std::lock_guard lk(stats_mu_);
    (nodes ? nodes_listed_ : endpoints_listed_) = true;
    both = nodes_listed_ && endpoints_listed_;
  }
  if (both) state_.set_synced(cluster::Source::etcd);  // a no-op after the first time
}

void ClusterSync::on_nodes_relist(std::vector<KeyValue> all) {
  std::vector<cluster::Node> nodes;
  std::map<std::string, bool> present;
  const auto now = std::chrono::system_clock::now();
  {
    std::lock_guard lk(stats_mu_);
    for (auto it = refused_.begin(); it != refused_.end();)
      it = it->first.rfind(nodes_prefix_, 0) == 0 ? refused_.erase(it) : std::next(it);
  }
  for (const auto& kv : all) {
    present[kv.key] = true;
    auto name = key_name(nodes_prefix_, kv.key);
    if (!name) continue;
    auto n = decode_node(*name, kv.value);
    if (!n) {
      refuse(kv.key, n.error().message);
      continue;
    }
    n->updated = now;
    nodes.push_back(std::move(*n));
  }
  state_.replace_nodes(cluster::Source::etcd, std::move(nodes));
  const std::string mine = node_key(o_.cluster, o_.node.name);
  if (!present.count(mine)) forget_published(mine);
  listed(true);
}

void ClusterSync::on_nodes_event(const WatchEvent& ev) {
  auto name = key_name(nodes_prefix_, ev.kv.key);
  if (!name) return;
  if (ev.type == WatchEvent::Type::del) {
    accept(ev.kv.key);
    state_.remove_node(cluster::Source::etcd, *name);
    if (*name == o_.node.name) forget_published(ev.kv.key);
    return;
  }
  auto n = decode_node(*name, ev.kv.value);
  if (!n) {
    refuse(ev.kv.key, n.error().message);
    state_.remove_node(cluster::Source::etcd, *name);  // what it said before is no longer what the store says
    return;
  }
  accept(ev.kv.key);
  n->updated = std::chrono::system_clock::now();
  state_.upsert_node(std::move(*n));
}

void ClusterSync::on_endpoints_relist(std::vector<KeyValue> all) {
  std::vector<cluster::RemoteEndpoint> eps;
  std::map<std::string, bool> present;
  {
    std::lock_guard lk(stats_mu_);
    for (auto it = refused_.begin(); it != refused_.end();)
      it = it->first.rfind(endpoints_prefix_, 0) == 0 ? refused_.erase(it) : std::next(it);
  }
  for (const auto& kv : all) {
    present[kv.key] = true;
    auto name = key_name(endpoints_prefix_, kv.key);
    if (!name) continue;
    auto e = decode_endpoint(*name, kv.value);
    if (!e) {
      refuse(kv.key, e.error().message);
      continue;
    }
    eps.push_back(std::move(*e));
  }
  state_.replace_endpoints(cluster::Source::etcd, std::move(eps));
  std::vector<std::string> lost;
  {
    std::lock_guard lk(pub_mu_);
    for (const auto& [k, v] : published_)
      if (k.rfind(endpoints_prefix_, 0) == 0 && !present.count(k)) lost.push_back(k);
  }
  for (const auto& k : lost) forget_published(k);
  listed(false);
}

void ClusterSync::on_endpoints_event(const WatchEvent& ev) {
  auto name = key_name(endpoints_prefix_, ev.kv.key);
  if (!name) return;
  auto ip = net::parse_ipv4(*name);
  if (ev.type == WatchEvent::Type::del) {
    accept(ev.kv.key);
    if (ip) state_.remove_endpoint(cluster::Source::etcd, *ip);
    forget_published(ev.kv.key);
    return;
  }
  auto e = decode_endpoint(*name, ev.kv.value);
  if (!e) {
    refuse(ev.kv.key, e.error().message);
    if (ip) state_.remove_endpoint(cluster::Source::etcd, *ip);
    return;
  }
  accept(ev.kv.key);
  state_.upsert_endpoint(std::move(*e));  // this node's own are kept out by ClusterState
}

SyncStats ClusterSync::stats() const {
  SyncStats s;
  s.endpoint = etcd_.endpoint();
  s.reachable = etcd_.reachable();
  s.session = session_alive_;
  {
    std::lock_guard lk(pub_mu_);
    s.lease = published_lease_;
    s.leases = leases_;
    s.published = all_published_;
    for (const auto& [k, v] : published_) (k.rfind(nodes_prefix_, 0) == 0 ? s.node_records : s.endpoint_records)++;
  }
  s.nodes_watch = nodes_watch_;
  s.endpoints_watch = endpoints_watch_;
  s.puts = puts_;
  s.deletes = deletes_;
  s.write_errors = write_errors_;
  s.session_errors = session_errors_;
  s.decode_errors = decode_errors_;
  {
    std::lock_guard lk(stats_mu_);
    s.synced = nodes_listed_ && endpoints_listed_;
    s.last_error = last_error_;
    s.last_error_at = last_error_at_;
    for (const auto& [k, why] : refused_) s.refused.push_back(why);
  }
  const auto snap = state_.snapshot();
  for (const auto& [name, n] : snap->nodes)
    if (n.source == cluster::Source::etcd && !n.local) ++s.remote_nodes;
  for (const auto& [ip, e] : snap->endpoints)
    if (e.source == cluster::Source::etcd) ++s.remote_endpoints;
  return s;
}

}  // namespace myelin::kvstore
