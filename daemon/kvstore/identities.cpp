// SPDX-License-Identifier: Apache-2.0
#include "myelin/kvstore/identities.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace myelin::kvstore {

namespace {

constexpr int kGone = -2;  // Error::code: the id vanished under our reference (collected)

std::vector<std::string> normalized(std::vector<std::string> labels) {
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  return labels;
}

std::string encode(const std::vector<std::string>& labels) { return nlohmann::json{{"labels", labels}}.dump(); }

std::optional<std::vector<std::string>> decode(const std::string& value) {
  try {
    auto j = nlohmann::json::parse(value);
    return normalized(j.at("labels").get<std::vector<std::string>>());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<uint32_t> parse_id(const std::string& s) {
  if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  unsigned long v = std::stoul(s);
  if (v > 0xffffffffUL) return std::nullopt;
  return static_cast<uint32_t>(v);
}

}  // namespace

EtcdIdentities::EtcdIdentities(Etcd& etcd, Session& session, EtcdIdentitiesOptions o)
    : etcd_(etcd), session_(session), o_(std::move(o)), prefix_(key_prefix(o_.cluster) + "identities/") {}

Result<std::unique_ptr<EtcdIdentities>> EtcdIdentities::open(Etcd& etcd, Session& session, EtcdIdentitiesOptions o) {
  if (o.node.empty()) return Error{"etcd identities: the node name is empty"};
  if (o.node.find('/') != std::string::npos) return Error{"etcd identities: node name '" + o.node + "' contains '/'"};
  if (o.first == 0 || o.first > o.last) return Error{"etcd identities: empty number range"};
  auto ids = std::unique_ptr<EtcdIdentities>(new EtcdIdentities(etcd, session, std::move(o)));
  auto* self = ids.get();
  Watcher::Callbacks cb;
  cb.relist = [self](std::vector<KeyValue> all, int64_t) {
    bool changed;
    std::function<void()> fn;
    {
      std::lock_guard lk(self->mu_);
      auto before = self->ids_;
      self->ids_.clear();
      self->by_labels_.clear();
      for (const auto& kv : all) self->apply(kv, false);
      changed = before.size() != self->ids_.size() ||
                !std::equal(before.begin(), before.end(), self->ids_.begin(), [](const auto& a, const auto& b) {
                  return a.first == b.first && a.second.labels == b.second.labels;
                });
      for (auto it = self->unreferenced_since_.begin(); it != self->unreferenced_since_.end();)
        it = self->ids_.count(it->first) ? std::next(it) : self->unreferenced_since_.erase(it);
      bool first = !self->synced_;
      self->synced_ = true;
      fn = self->on_change_;
      if (first && before.empty()) changed = !self->ids_.empty();
    }
    if (changed && fn) fn();
  };
  cb.event = [self](const WatchEvent& ev) {
    bool changed = false;
    std::function<void()> fn;
    {
      std::lock_guard lk(self->mu_);
      auto before = self->ids_.size();
      std::optional<std::vector<std::string>> old;
      const std::string id_prefix = self->prefix_ + "id/";
      std::optional<uint32_t> id;
      if (ev.kv.key.compare(0, id_prefix.size(), id_prefix) == 0) {
        id = parse_id(ev.kv.key.substr(id_prefix.size()));
        if (id)
          if (auto it = self->ids_.find(*id); it != self->ids_.end()) old = it->second.labels;
      }
      self->apply(ev.kv, ev.type == WatchEvent::Type::del);
      if (id && ev.type == WatchEvent::Type::put) {
        // Our own creation, seen before or after find_or_allocate noted it.
        auto own = self->own_created_.find(*id);
        if (own != self->own_created_.end() && decode(ev.kv.value) == own->second) {
          self->own_created_.erase(own);
          id.reset();
        }
      }
      if (id) {
        auto it = self->ids_.find(*id);
        changed = before != self->ids_.size() || (it == self->ids_.end()) != !old || (it != self->ids_.end() && old && *old != it->second.labels);
      }
      fn = self->on_change_;
    }
    if (changed && fn) fn();
  };
  // Only the ids: every node watching every reference would make each
  // endpoint's reference an event on every node. Collection lists them.
  ids->watcher_ = Watcher::start(etcd, ids->prefix_ + "id/", std::move(cb));
  ids->thread_ = std::thread([self] { self->run(); });
  return ids;
}

EtcdIdentities::~EtcdIdentities() {
  {
    std::lock_guard lk(run_mu_);
    stop_ = true;
  }
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  watcher_.reset();
}

std::string EtcdIdentities::id_key(uint32_t id) const { return prefix_ + "id/" + std::to_string(id); }
std::string EtcdIdentities::ref_prefix(uint32_t id) const { return prefix_ + "ref/" + std::to_string(id) + "/"; }
std::string EtcdIdentities::ref_key(uint32_t id) const { return ref_prefix(id) + o_.node; }

void EtcdIdentities::apply(const KeyValue& kv, bool deleted) {
  const std::string id_prefix = prefix_ + "id/", ref_prefix = prefix_ + "ref/";
  if (kv.key.compare(0, id_prefix.size(), id_prefix) == 0) {
    auto id = parse_id(kv.key.substr(id_prefix.size()));
    if (!id) return;
    if (auto it = ids_.find(*id); it != ids_.end()) {
      auto& set = by_labels_[it->second.labels];
      set.erase(*id);
      if (set.empty()) by_labels_.erase(it->second.labels);
      ids_.erase(it);
    }
    if (!deleted) {
      auto labels = decode(kv.value);
      if (!labels) return;  // not ours to interpret: ignored
      ids_[*id] = Id{*labels, kv.create_revision, kv.mod_revision};
      by_labels_[*labels].insert(*id);
    } else {
      unreferenced_since_.erase(*id);
    }
  } else if (kv.key.compare(0, ref_prefix.size(), ref_prefix) == 0) {
    std::string rest = kv.key.substr(ref_prefix.size());
    auto slash = rest.find('/');
    if (slash == std::string::npos) return;
    auto id = parse_id(rest.substr(0, slash));
    if (!id) return;
    std::string node = rest.substr(slash + 1);
    if (deleted)
      refs_[*id].erase(node);
    else
      refs_[*id].insert(node);
    if (refs_[*id].empty()) refs_.erase(*id);
  }
}

Result<uint32_t> EtcdIdentities::find_or_allocate(const std::vector<std::string>& labels) {
  std::set<uint32_t> taken;  // learned taken by other labels during this call
  if (!synced()) {
    // Before the watcher's first list: read the ids directly, so a restart
    // does not walk every taken number with a failed create.
    auto l = etcd_.list(prefix_ + "id/");
    if (!l) return l.error();
    std::lock_guard lk(mu_);
    for (const auto& kv : l->first) apply(kv, false);
  }
  for (int attempt = 0; attempt < 1000; ++attempt) {
    uint32_t candidate = 0;
    {
      std::lock_guard lk(mu_);
      if (auto it = by_labels_.find(labels); it != by_labels_.end() && !it->second.empty()) {
        // The oldest, should there be two.
        uint32_t best = *it->second.begin();
        for (uint32_t id : it->second)
          if (ids_[id].create_revision < ids_[best].create_revision) best = id;
        return best;
      }
      for (uint32_t id = o_.first; id <= o_.last; ++id) {
        if (!ids_.count(id) && !taken.count(id)) {
          candidate = id;
          break;
        }
        if (id == o_.last) break;
      }
    }
    if (candidate == 0) return Error{"etcd identities: every number from " + std::to_string(o_.first) + " to " + std::to_string(o_.last) + " is taken"};
    {
      std::lock_guard lk(mu_);
      own_created_[candidate] = labels;
    }
    auto c = etcd_.create(id_key(candidate), encode(labels));
    if (!c || !*c) {
      std::lock_guard lk(mu_);
      own_created_.erase(candidate);
    }
    if (!c) return c.error();
    if (*c) {
      // Ours. Another node may have given the same labels another number at
      // the same moment (its view missed something ours had, or the other way
      // round): the older one wins; ours is withdrawn before anyone uses it.
      auto l = etcd_.list(prefix_ + "id/");
      if (!l) return candidate;  // cannot check now; ours stands
      const KeyValue* mine = nullptr;
      const KeyValue* oldest = nullptr;
      for (const auto& kv : l->first) {
        auto kl = decode(kv.value);
        if (!kl || *kl != labels) continue;
        if (kv.key == id_key(candidate)) mine = &kv;
        if (!oldest || kv.create_revision < oldest->create_revision) oldest = &kv;
      }
      std::lock_guard lk(mu_);
      for (const auto& kv : l->first) apply(kv, false);
      if (mine && oldest && oldest != mine) {
        (void)etcd_.delete_if(mine->key, mine->mod_revision);
        apply(*mine, true);
        return *parse_id(oldest->key.substr(prefix_.size() + 3));
      }
      return candidate;
    }
    auto g = etcd_.get(id_key(candidate));
    if (!g) return g.error();
    if (!g->has_value()) continue;  // deleted in between: try it again
    std::lock_guard lk(mu_);
    apply(**g, false);
    auto kl = decode((*g)->value);
    if (kl && *kl == labels) return candidate;  // the same labels, allocated by another node just now
    taken.insert(candidate);
  }
  return Error{"etcd identities: no number after 1000 attempts (contention)"};
}

Status EtcdIdentities::put_reference(uint32_t id, const std::vector<std::string>& labels) {
  int64_t lease = session_.lease();
  if (lease == 0) return Error{"etcd identities: no session lease yet (store unreachable)"};
  if (auto s = etcd_.put(ref_key(id), "", lease); !s) return s;
  // The id could have been collected between our read and our reference:
  // after the reference exists no collection can delete it (the Txn checks).
  auto g = etcd_.get(id_key(id));
  if (!g) return g.error();
  auto kl = g->has_value() ? decode((*g)->value) : std::nullopt;
  if (!kl || *kl != labels) {
    (void)etcd_.del(ref_key(id));
    std::lock_guard lk(mu_);
    if (g->has_value())
      apply(**g, false);
    else
      apply(KeyValue{id_key(id)}, true);
    return Error{"etcd identities: id " + std::to_string(id) + " was collected", kGone};
  }
  return {};
}

Result<uint32_t> EtcdIdentities::acquire(const std::vector<std::string>& raw) {
  auto labels = normalized(raw);
  std::lock_guard lk(alloc_mu_);
  for (auto& [id, l] : local_labels_)
    if (l == labels) {
      ++local_[id];
      return id;
    }
  for (int round = 0; round < 5; ++round) {
    auto id = find_or_allocate(labels);
    if (!id) {
      // Unreachable: a number this node's view already has is still the
      // cluster's; its reference follows when the store answers.
      std::lock_guard lk2(mu_);
      auto it = by_labels_.find(labels);
      if (it == by_labels_.end() || it->second.empty()) return id.error();
      uint32_t known = *it->second.begin();
      local_[known] = 1;
      local_labels_[known] = labels;
      pending_.insert(known);
      return known;
    }
    auto s = put_reference(*id, labels);
    if (!s && s.error().code == kGone) continue;
    local_[*id] = 1;
    local_labels_[*id] = labels;
    if (!s) pending_.insert(*id);
    return *id;
  }
  return Error{"etcd identities: the id for these labels kept being collected"};
}

Status EtcdIdentities::release(uint32_t id) {
  std::lock_guard lk(alloc_mu_);
  auto it = local_.find(id);
  if (it == local_.end()) return {};
  if (--it->second > 0) return {};
  local_.erase(it);
  local_labels_.erase(id);
  pending_.erase(id);
  // The id stays; garbage collection deletes it once no node refers to it.
  if (auto s = etcd_.del(ref_key(id)); !s) {
    pending_.insert(id);  // run() deletes it later (not in local_: a deletion)
    return s;
  }
  return {};
}

Status EtcdIdentities::restore_reference(uint32_t id, const std::vector<std::string>& labels, int64_t lease) {
  if (lease == 0) return Error{"etcd identities: no session lease yet (store unreachable)"};
  if (auto s = etcd_.put(ref_key(id), "", lease); !s) return s;
  auto c = etcd_.create(id_key(id), encode(labels));
  if (!c) return c.error();
  if (*c) return {};
  auto g = etcd_.get(id_key(id));
  if (!g) return g.error();
  if (g->has_value() && decode((*g)->value) != labels)
    return Error{"etcd identities: id " + std::to_string(id) + " was collected and now belongs to other labels"};
  return {};
}

Status EtcdIdentities::write_references(int64_t lease) {
  std::lock_guard lk(alloc_mu_);
  Status result;
  for (const auto& [id, labels] : local_labels_) {
    auto s = restore_reference(id, labels, lease);
    if (!s) {
      pending_.insert(id);
      if (result) result = s;
    } else {
      pending_.erase(id);
    }
  }
  return result;
}

Result<size_t> EtcdIdentities::collect_garbage() {
  std::vector<std::pair<uint32_t, int64_t>> victims;
  std::set<uint32_t> mine;
  {
    std::lock_guard lk(alloc_mu_);
    for (const auto& [id, _] : local_) mine.insert(id);
  }
  auto refs = etcd_.list(prefix_ + "ref/");
  if (!refs) return refs.error();
  {
    std::lock_guard lk(mu_);
    if (!synced_) return size_t{0};
    auto now = std::chrono::steady_clock::now();
    refs_.clear();
    for (const auto& kv : refs->first) apply(kv, false);
    // Unreferenced since: kept for ids still without references, now for
    // newly unreferenced ones (the grace counts from the first pass that saw it).
    for (const auto& [id, _] : ids_) {
      if (refs_.count(id))
        unreferenced_since_.erase(id);
      else
        unreferenced_since_.try_emplace(id, now);
    }
    for (const auto& [id, since] : unreferenced_since_) {
      if (now - since < o_.gc_grace || mine.count(id)) continue;
      auto it = ids_.find(id);
      if (it != ids_.end()) victims.emplace_back(id, it->second.mod_revision);
    }
  }
  size_t deleted = 0;
  for (auto [id, rev] : victims) {
    auto d = etcd_.delete_if_unreferenced(id_key(id), rev, ref_prefix(id));
    if (!d) return d.error();
    deleted += *d;
  }
  return deleted;
}

void EtcdIdentities::run() {
  for (;;) {
    {
      std::unique_lock lk(run_mu_);
      if (run_cv_.wait_for(lk, o_.gc_interval, [this] { return stop_; })) return;
    }
    {
      std::lock_guard lk(alloc_mu_);
      for (auto it = pending_.begin(); it != pending_.end();) {
        uint32_t id = *it;
        Status s;
        if (auto l = local_labels_.find(id); l != local_labels_.end())
          s = restore_reference(id, l->second, session_.lease());
        else
          s = etcd_.del(ref_key(id));  // released while unreachable
        it = s ? pending_.erase(it) : std::next(it);
      }
    }
    (void)collect_garbage();
  }
}

std::optional<std::vector<std::string>> EtcdIdentities::labels(uint32_t id) const {
  if (auto name = reserved_name(id); !name.empty()) return std::vector<std::string>{"reserved:" + name};
  std::lock_guard lk(mu_);
  auto it = ids_.find(id);
  if (it == ids_.end()) return std::nullopt;
  return it->second.labels;
}

std::map<uint32_t, std::vector<std::string>> EtcdIdentities::list() const {
  std::lock_guard lk(mu_);
  std::map<uint32_t, std::vector<std::string>> out;
  for (const auto& [id, e] : ids_) out[id] = e.labels;
  return out;
}

void EtcdIdentities::on_change(std::function<void()> fn) {
  std::lock_guard lk(mu_);
  on_change_ = std::move(fn);
}

bool EtcdIdentities::synced() const {
  std::lock_guard lk(mu_);
  return synced_;
}

size_t EtcdIdentities::pending_references() const {
  std::lock_guard lk(alloc_mu_);
  return pending_.size();
}

}  // namespace myelin::kvstore
