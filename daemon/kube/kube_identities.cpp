// SPDX-License-Identifier: Apache-2.0
#include "myelin/kube/kube_identities.hpp"

#include <algorithm>
#include <ctime>

#include "myelin/atomic_file.hpp"
#include "myelin/log.hpp"

namespace myelin::kube {

const Resource kMyelinIdentities{"myelinidentities", "/apis/myelin.io/v1alpha1/myelinidentities", "MyelinIdentity",
                                 "myelin.io/v1alpha1"};

namespace {

using Clock = std::chrono::system_clock;
constexpr const char* kNsLabelsPrefix = "k8s:io.cilium.k8s.namespace.labels.";

std::string rfc3339(Clock::time_point t) {
  std::time_t s = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<Clock::time_point> parse_rfc3339(const std::string& v) {
  std::tm tm{};
  const char* end = strptime(v.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) return std::nullopt;
  return Clock::from_time_t(timegm(&tm));  // fractions and "Z" passed over: seconds are enough here
}

std::string path_of(uint32_t id) { return kMyelinIdentities.path + "/" + std::to_string(id); }

// The number an object is named by; nullopt for a name that is not one.
std::optional<uint32_t> id_of(const nlohmann::json& obj) {
  const auto& m = obj.value("metadata", nlohmann::json::object());
  const std::string name = m.is_object() ? m.value("name", "") : "";
  if (name.empty() || name.size() > 8 || name.find_first_not_of("0123456789") != std::string::npos || name[0] == '0')
    return std::nullopt;
  const uint32_t id = static_cast<uint32_t>(std::stoul(name));
  if (id > identity::kLastClusterIdentity) return std::nullopt;
  return id;
}

// securityLabels {"k8s:app": "web"} -> sorted {"k8s:app=web"}; nullopt when malformed.
std::optional<std::vector<std::string>> labels_of(const nlohmann::json& obj) {
  if (!obj.contains("securityLabels") || !obj["securityLabels"].is_object()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& [k, v] : obj["securityLabels"].items()) {
    if (!v.is_string()) return std::nullopt;
    out.push_back(k + "=" + v.get<std::string>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> normalized(std::vector<std::string> labels) {
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  return labels;
}

}  // namespace

bool KubeIdentities::cluster_scoped(const std::vector<std::string>& labels) {
  if (labels.empty()) return false;
  for (const auto& l : labels)
    if (l.rfind("k8s:", 0) != 0 || l.find('=') == std::string::npos) return false;
  return true;
}

uint32_t KubeIdentities::first_candidate(const std::vector<std::string>& labels, uint32_t first, uint32_t last) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: the same on every node, whatever the build
  for (const auto& l : labels) {
    for (unsigned char c : l) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // a separator no label contains
  }
  return first + static_cast<uint32_t>(h % (uint64_t{last} - first + 1));
}

nlohmann::json KubeIdentities::object_for(uint32_t id, const std::vector<std::string>& labels) {
  nlohmann::json security = nlohmann::json::object(), meta_labels = nlohmann::json::object();
  for (const auto& l : labels) {
    const auto eq = l.find('=');
    const std::string key = l.substr(0, eq), value = l.substr(eq + 1);
    security[key] = value;
    // For kubectl -l: the pod's labels without their source; the namespace's
    // labels are left out (their keys grow past a label key's 63 characters).
    if (l.rfind(kNsLabelsPrefix, 0) != 0) meta_labels[key.substr(4)] = value;
  }
  return {{"apiVersion", kMyelinIdentities.api_version},
          {"kind", kMyelinIdentities.kind},
          {"metadata", {{"name", std::to_string(id)}, {"labels", meta_labels}}},
          {"securityLabels", security}};
}

KubeIdentities::KubeIdentities(ClusterConfig cluster, KubeIdentitiesOptions options)
    : client_(cluster, options.reflector.request_timeout), opt_(std::move(options)) {}

Result<std::unique_ptr<KubeIdentities>> KubeIdentities::open(ClusterConfig cluster, KubeIdentitiesOptions options) {
  if (options.first < identity::kFirstAllocated || options.last > identity::kLastClusterIdentity || options.first > options.last)
    return Error{"MyelinIdentity numbers must lie within " + std::to_string(identity::kFirstAllocated) + ".." +
                 std::to_string(identity::kLastClusterIdentity)};
  std::unique_ptr<KubeIdentities> k(new KubeIdentities(cluster, std::move(options)));
  auto local = identity::IdentityAllocator::open(k->opt_.local_file, identity::kFirstLocalIdentity);
  if (!local) return Error{"node-local identities: " + local.error().message};
  k->local_ = std::move(*local);
  auto text = read_file(k->opt_.refs_file);
  if (!text) return text.error();
  if (*text) {
    try {
      const auto j = nlohmann::json::parse(**text);  // named: a range-for over parse(...).at() dangles
      for (const auto& r : j.at("refs"))
        k->refs_[r.at("id").get<uint32_t>()] = Ref{normalized(r.at("labels").get<std::vector<std::string>>()), r.at("refs").get<uint32_t>()};
    } catch (const std::exception& e) {
      return Error{k->opt_.refs_file + " is corrupt (" + e.what() + ")"};
    }
  }
  Reflector::Handler h{[p = k.get()](const nlohmann::json& o) { p->on_upsert(o); },
                       [p = k.get()](const nlohmann::json& o) { p->on_remove(o); },
                       [p = k.get()] { p->on_synced(); },
                       nullptr,
                       [p = k.get()](const std::string& m) { p->count_error(m); }};
  k->reflector_ = std::make_unique<Reflector>(std::move(cluster), kMyelinIdentities, std::move(h), k->opt_.reflector);
  k->reflector_->start();
  k->thread_ = std::thread([p = k.get()] { p->run(); });
  return k;
}

KubeIdentities::~KubeIdentities() {
  on_change(nullptr);  // nobody is told anything from here on
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (reflector_) reflector_->stop();
}

void KubeIdentities::count_error(const std::string& message) {
  {
    std::lock_guard lk(mu_);
    ++stats_.errors;
    if (stats_.last_error == message) return;
    stats_.last_error = message;
  }
  log::warn("identity", message);
}

void KubeIdentities::insert_locked(uint32_t id, Entry e) {
  erase_locked(id);
  by_labels_[e.labels].insert({e.created, id});
  cache_[id] = std::move(e);
}

void KubeIdentities::erase_locked(uint32_t id) {
  auto it = cache_.find(id);
  if (it == cache_.end()) return;
  auto bl = by_labels_.find(it->second.labels);
  if (bl != by_labels_.end()) {
    bl->second.erase({it->second.created, id});
    if (bl->second.empty()) by_labels_.erase(bl);
  }
  cache_.erase(it);
}

std::optional<uint32_t> KubeIdentities::winner_locked(const std::vector<std::string>& labels) const {
  auto it = by_labels_.find(labels);
  if (it == by_labels_.end() || it->second.empty()) return std::nullopt;
  return it->second.begin()->second;  // the oldest; the lower number on a tie
}

void KubeIdentities::on_upsert(const nlohmann::json& obj) {
  auto id = id_of(obj);
  auto labels = labels_of(obj);
  if (!id || !labels || !cluster_scoped(*labels)) {
    count_error("MyelinIdentity " + object_key(obj) + " is not a number below 2^24 with pod securityLabels: passed over");
    return;
  }
  const auto& m = obj["metadata"];
  Entry e;
  e.labels = std::move(*labels);
  e.created = m.value("creationTimestamp", "");
  e.resource_version = m.value("resourceVersion", "");
  e.heartbeat = parse_rfc3339(e.created).value_or(Clock::now());
  if (m.contains("annotations") && m["annotations"].is_object() && m["annotations"].contains(kHeartbeatAnnotation) &&
      m["annotations"][kHeartbeatAnnotation].is_string())
    if (auto t = parse_rfc3339(m["annotations"][kHeartbeatAnnotation].get<std::string>())) e.heartbeat = *t;
  bool changed;
  {
    std::lock_guard lk(mu_);
    auto it = cache_.find(*id);
    changed = it == cache_.end() || it->second.labels != e.labels || it->second.created != e.created;
    insert_locked(*id, std::move(e));
  }
  if (changed) notify();
}

void KubeIdentities::on_remove(const nlohmann::json& obj) {
  auto id = id_of(obj);
  if (!id) return;
  bool changed;
  {
    std::lock_guard lk(mu_);
    changed = cache_.count(*id) > 0;
    erase_locked(*id);
  }
  if (changed) notify();
}

void KubeIdentities::on_synced() {
  bool first;
  {
    std::lock_guard lk(mu_);
    first = !synced_;
    synced_ = true;
  }
  cv_.notify_all();
  if (first) {
    log::info("identity", "MyelinIdentity objects listed from " + client_.cluster().server.str());
    notify();
  }
}

void KubeIdentities::notify() {
  std::function<void()> fn;
  {
    std::lock_guard lk(on_change_mu_);
    fn = on_change_;
  }
  bool synced;
  {
    std::lock_guard lk(mu_);
    synced = synced_;
  }
  if (fn && synced) fn();  // before the first list, nobody acts on a partial view
}

void KubeIdentities::on_change(std::function<void()> fn) {
  std::lock_guard lk(on_change_mu_);
  on_change_ = std::move(fn);
}

bool KubeIdentities::wait_synced(std::chrono::milliseconds limit) const {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, limit, [this] { return synced_ || stopping_; }) && synced_;
}

Status KubeIdentities::save_refs_locked() const {
  nlohmann::json j;
  j["refs"] = nlohmann::json::array();
  for (const auto& [id, r] : refs_) j["refs"].push_back({{"id", id}, {"labels", r.labels}, {"refs", r.count}});
  return write_file_atomic(opt_.refs_file, j.dump(1));
}

Status KubeIdentities::renew(uint32_t id, const std::vector<std::string>& labels) {
  nlohmann::json patch = {{"metadata", {{"annotations", {{kHeartbeatAnnotation, rfc3339(Clock::now())}}}}}};
  auto r = client_.merge_patch(path_of(id), patch);
  if (r) {
    on_upsert(*r);  // the new version now, not when the watch brings it
    std::lock_guard lk(mu_);
    ++stats_.heartbeats;
    return {};
  }
  if (r.error().code != kNotFound) return r.error();
  // Deleted (GC while this node was away): the same number again, as
  // Cilium's agent recreates a missing master key it still uses.
  auto c = client_.create(kMyelinIdentities.path, object_for(id, labels));
  if (c) {
    on_upsert(*c);
    std::lock_guard lk(mu_);
    ++stats_.recreated;
    log::info("identity", "MyelinIdentity " + std::to_string(id) + " was gone: created again");
    return {};
  }
  if (c.error().code != kConflict) return c.error();
  auto got = client_.get(path_of(id));
  if (!got) return got.error();
  on_upsert(*got);
  if (labels_of(*got) != labels)
    return Error{"MyelinIdentity " + std::to_string(id) + " was deleted and its number taken by other labels; endpoints holding it "
                 "keep it until they are recreated"};
  return {};
}

Result<uint32_t> KubeIdentities::create(const std::vector<std::string>& labels) {
  const uint64_t span = uint64_t{opt_.last} - opt_.first + 1;
  uint32_t id = first_candidate(labels, opt_.first, opt_.last);
  for (uint64_t tried = 0; tried < span; ++tried, id = id == opt_.last ? opt_.first : id + 1) {
    {
      std::lock_guard lk(mu_);
      if (cache_.count(id)) {
        if (cache_[id].labels == labels) return id;  // arrived meanwhile
        continue;
      }
    }
    auto c = client_.create(kMyelinIdentities.path, object_for(id, labels));
    if (c) {
      on_upsert(*c);
      std::lock_guard lk(mu_);
      ++stats_.created;
      return id;
    }
    if (c.error().code != kConflict) return Error{"create MyelinIdentity " + std::to_string(id) + ": " + c.error().message};
    {
      std::lock_guard lk(mu_);
      ++stats_.create_conflicts;
    }
    // Taken: by the same labels (another node won the create) or others.
    auto got = client_.get(path_of(id));
    if (!got) {
      if (got.error().code == kNotFound) continue;  // deleted between the two (GC): the next number will do
      return Error{"read MyelinIdentity " + std::to_string(id) + ": " + got.error().message};
    }
    on_upsert(*got);
    if (labels_of(*got) == labels) return id;
  }
  return Error{"no free MyelinIdentity number in " + std::to_string(opt_.first) + ".." + std::to_string(opt_.last)};
}

Result<uint32_t> KubeIdentities::acquire(const std::vector<std::string>& in) {
  const auto labels = normalized(in);
  if (!cluster_scoped(labels)) return local_->acquire(labels);
  std::lock_guard w(write_mu_);
  if (!wait_synced(opt_.sync_timeout)) {
    std::lock_guard lk(mu_);
    return Error{"MyelinIdentity objects not listed from " + client_.cluster().server.str() + " within " +
                 std::to_string(opt_.sync_timeout.count() / 1000) + " s" +
                 (stats_.last_error.empty() ? std::string() : ": " + stats_.last_error)};
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::optional<uint32_t> id;
    bool first_ref = false;
    {
      std::lock_guard lk(mu_);
      id = winner_locked(labels);
      if (id) first_ref = !refs_.count(*id);
    }
    if (!id) {
      auto c = create(labels);
      if (!c) {
        count_error(c.error().message);
        return c.error();
      }
      id = *c;
      first_ref = false;  // just created or just read: no heartbeat needed
    }
    if (first_ref) {
      // This node starts using it: renew now, so a GC that read the old
      // heartbeat fails on its resourceVersion precondition.
      if (auto s = renew(*id, labels); !s) {
        count_error(s.error().message);
        if (attempt < 2) continue;  // e.g. gone and renumbered: look again
        return s.error();
      }
      std::lock_guard lk(mu_);
      if (auto now = winner_locked(labels); now && *now != *id) continue;  // renewed a loser: take the winner
    }
    std::lock_guard lk(mu_);
    auto& r = refs_[*id];
    r.labels = labels;
    ++r.count;
    if (auto s = save_refs_locked(); !s) {
      if (--r.count == 0) refs_.erase(*id);
      return s.error();
    }
    return *id;
  }
  return Error{"MyelinIdentity for " + std::to_string(labels.size()) + " labels: changed under every attempt"};
}

Status KubeIdentities::release(uint32_t id) {
  if (id >= identity::kFirstLocalIdentity) return local_->release(id);
  std::lock_guard w(write_mu_);
  std::lock_guard lk(mu_);
  auto it = refs_.find(id);
  if (it == refs_.end()) return {};
  // Nothing is deleted here: other nodes may use it; without heartbeats it
  // is garbage after the GC timeout.
  if (--it->second.count == 0) refs_.erase(it);
  return save_refs_locked();
}

std::optional<std::vector<std::string>> KubeIdentities::labels(uint32_t id) const {
  if (auto name = reserved_name(id); !name.empty()) return std::vector<std::string>{"reserved:" + name};
  if (id >= identity::kFirstLocalIdentity) return local_->labels(id);
  std::lock_guard lk(mu_);
  if (auto it = cache_.find(id); it != cache_.end()) return it->second.labels;
  if (auto it = refs_.find(id); it != refs_.end()) return it->second.labels;  // restored, not listed yet
  return std::nullopt;
}

std::map<uint32_t, std::vector<std::string>> KubeIdentities::list() const {
  auto out = local_->list();
  std::lock_guard lk(mu_);
  for (const auto& [id, r] : refs_) out[id] = r.labels;
  for (const auto& [id, e] : cache_) out[id] = e.labels;
  return out;
}

KubeIdentities::Stats KubeIdentities::stats() const {
  std::lock_guard lk(mu_);
  Stats s = stats_;
  s.cluster_identities = cache_.size();
  s.referenced = refs_.size();
  s.synced = synced_;
  return s;
}

void KubeIdentities::maintain() { round(true); }

void KubeIdentities::round(bool gc) {
  std::lock_guard w(write_mu_);
  const auto now = Clock::now();
  std::vector<std::pair<uint32_t, std::vector<std::string>>> renew_ids;
  std::vector<std::pair<uint32_t, std::string>> garbage;
  {
    std::lock_guard lk(mu_);
    if (!synced_) return;
    for (const auto& [id, r] : refs_) {
      auto it = cache_.find(id);
      // Renewed by any node within the interval: nothing to write (N nodes
      // sharing an identity do not each patch it every interval).
      if (it != cache_.end() && now - it->second.heartbeat < opt_.heartbeat_interval) continue;
      renew_ids.emplace_back(id, r.labels);
    }
    for (const auto& [id, e] : cache_)
      if (gc && !refs_.count(id) && now - e.heartbeat > opt_.gc_timeout) garbage.emplace_back(id, e.resource_version);
  }
  for (const auto& [id, labels] : renew_ids)
    if (auto s = renew(id, labels); !s) count_error("heartbeat of MyelinIdentity " + std::to_string(id) + ": " + s.error().message);
  for (const auto& [id, rv] : garbage) {
    // Only the version read: a heartbeat written since (another node
    // started using it) makes this a 409, and it stays.
    auto s = client_.remove(path_of(id), "", rv);
    if (s) {
      log::info("identity", "MyelinIdentity " + std::to_string(id) + ": no heartbeat for " +
                                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(opt_.gc_timeout).count()) +
                                " s, deleted");
      std::lock_guard lk(mu_);
      ++stats_.collected;
    } else if (s.error().code != kConflict && s.error().code != kNotFound) {
      count_error("GC of MyelinIdentity " + std::to_string(id) + ": " + s.error().message);
    }
  }
}

void KubeIdentities::run() {
  const auto tick = std::min(opt_.heartbeat_interval, opt_.gc_interval);
  // The first GC one interval after start: nodes restarting together renew
  // what they hold before any of them judges it stale.
  auto next_gc = std::chrono::steady_clock::now() + opt_.gc_interval;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      // Renewals are due when the last one is older than the interval: a
      // quarter of it between looks keeps every one well within it.
      cv_.wait_for(lk, std::max<std::chrono::milliseconds>(tick / 4, std::chrono::milliseconds(10)), [this] { return stopping_; });
      if (stopping_) return;
    }
    // Heartbeats every look (cheap when nothing is due); GC on its interval.
    const bool gc = std::chrono::steady_clock::now() >= next_gc;
    round(gc);
    if (gc) next_gc = std::chrono::steady_clock::now() + opt_.gc_interval;
  }
}

}  // namespace myelin::kube
