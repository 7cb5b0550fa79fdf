// SPDX-License-Identifier: Apache-2.0
#include "myelin/objects/object_store.hpp"

#include <algorithm>
#include <deque>
#include <tuple>

#include "myelin/log.hpp"

namespace myelin::objects {

struct ObjectStore::Pending {
  struct Ev {
    Event::Type type;
    Key key;
    const Object* object;
    const Object* old;
  };
  struct Ref {
    Part part;
    std::string source;
    std::optional<policy::Refusal> why;
  };
  std::deque<std::vector<Object>> replaced;  // old versions, alive until delivered
  std::vector<Ev> events;
  std::vector<Ref> refusals;
  bool changed = false, synced = false;
};

namespace {

// Each object's key, in the order given; a repeated kind/ns/name counts up nth.
std::vector<Key> keys_of(const std::string& source, const std::vector<Object>& objects) {
  std::map<std::tuple<Kind, std::string, std::string>, uint32_t> seen;
  std::vector<Key> out;
  out.reserve(objects.size());
  for (const auto& o : objects) {
    Key k{source, kind_of(o), ns_of(o), name_of(o), 0};
    k.nth = seen[{k.kind, k.ns, k.name}]++;
    out.push_back(std::move(k));
  }
  return out;
}

size_t index(Part p) { return p == Part::objects ? 0 : 1; }

}  // namespace

void ObjectStore::set_part(const std::string& source, Part part, std::optional<std::vector<Object>> next, Pending& out) {
  auto it = sources_.find(source);
  if (it == sources_.end()) {
    if (!next) return;
    it = sources_.emplace(source, Record{}).first;
  }
  Record& rec = it->second;
  const size_t i = index(part);
  const std::vector<Object>* old = nullptr;
  if (rec.good[i]) old = &out.replaced.emplace_back(std::move(*rec.good[i]));
  rec.good[i] = std::move(next);
  if (rec.refused[i]) {
    rec.refused[i].reset();
    out.refusals.push_back({part, source, std::nullopt});
  }
  std::map<Key, const Object*> before;
  if (old) {
    const auto keys = keys_of(source, *old);
    for (size_t j = 0; j < keys.size(); ++j) before.emplace(keys[j], &(*old)[j]);
  }
  std::set<Key> now;
  if (rec.good[i]) {
    const auto& objs = *rec.good[i];
    const auto keys = keys_of(source, objs);
    now.insert(keys.begin(), keys.end());
    // Deleted first: a policy renamed within a file is gone before its successor comes.
    for (const auto& [k, o] : before)
      if (!now.count(k)) out.events.push_back({Event::Type::deleted, k, o, nullptr});
    for (size_t j = 0; j < keys.size(); ++j) {
      auto b = before.find(keys[j]);
      out.events.push_back(b == before.end() ? Pending::Ev{Event::Type::added, keys[j], &objs[j], nullptr}
                                             : Pending::Ev{Event::Type::updated, keys[j], &objs[j], b->second});
    }
  } else {
    for (const auto& [k, o] : before) out.events.push_back({Event::Type::deleted, k, o, nullptr});
  }
  if (!rec.good[0] && !rec.good[1] && !rec.refused[0] && !rec.refused[1]) sources_.erase(it);
}

void ObjectStore::refuse_part(const std::string& source, Part part, policy::Refusal why, Pending& out) {
  Record& rec = sources_[source];
  const size_t i = index(part);
  why.last_good_in_force = rec.good[i].has_value();
  if (part == Part::objects)
    log::error("objects", why.message() + (why.last_good_in_force ? " (the last good version of " + source + " stays in force)" : ""));
  rec.refused[i] = why;
  out.refusals.push_back({part, source, std::move(why)});
}

void ObjectStore::apply(const std::string& source, Decoded decoded) {
  std::lock_guard d(deliver_mu_);
  Pending p;
  {
    std::unique_lock lk(mu_);
    if (auto* r = std::get_if<policy::Refusal>(&decoded.objects)) refuse_part(source, Part::objects, std::move(*r), p);
    else set_part(source, Part::objects, std::get<std::vector<Object>>(std::move(decoded.objects)), p);
    if (auto* r = std::get_if<policy::Refusal>(&decoded.tracing)) {
      refuse_part(source, Part::tracing, std::move(*r), p);
    } else {
      std::vector<Object> tps;
      for (auto& t : std::get<std::vector<tracing::TracingPolicy>>(decoded.tracing)) tps.emplace_back(std::move(t));
      // A text without TracingPolicies has no tracing part (nothing to list).
      if (tps.empty()) set_part(source, Part::tracing, std::nullopt, p);
      else set_part(source, Part::tracing, std::move(tps), p);
    }
  }
  deliver(p);
}

void ObjectStore::apply_text(const std::string& source, const std::string& text) { apply(source, decode(text, source)); }

void ObjectStore::refuse(const std::string& source, policy::Refusal why) {
  std::lock_guard d(deliver_mu_);
  Pending p;
  {
    std::unique_lock lk(mu_);
    refuse_part(source, Part::objects, std::move(why), p);
  }
  deliver(p);
}

void ObjectStore::remove(const std::string& source) {
  std::lock_guard d(deliver_mu_);
  Pending p;
  {
    std::unique_lock lk(mu_);
    set_part(source, Part::objects, std::nullopt, p);
    set_part(source, Part::tracing, std::nullopt, p);
  }
  deliver(p);
}

void ObjectStore::changed() {
  std::lock_guard d(deliver_mu_);
  Pending p;
  p.changed = true;
  deliver(p);
}

size_t ObjectStore::add_source(const std::string& name) {
  std::unique_lock lk(mu_);
  log::debug("objects", "source " + name + " registered");
  synced_.push_back(false);
  return synced_.size() - 1;
}

void ObjectStore::synced(size_t source) {
  std::lock_guard d(deliver_mu_);
  Pending p;
  {
    std::unique_lock lk(mu_);
    if (source < synced_.size()) synced_[source] = true;
    if (!synced_told_ && std::all_of(synced_.begin(), synced_.end(), [](bool b) { return b; })) p.synced = synced_told_ = true;
  }
  deliver(p);
}

bool ObjectStore::all_synced() const {
  std::shared_lock lk(mu_);
  return std::all_of(synced_.begin(), synced_.end(), [](bool b) { return b; });
}

void ObjectStore::deliver(const Pending& p, const Subscriber* only) {
  for (const auto& [id, s] : subscribers_) {
    if (only && &s != only) continue;
    for (const auto& e : p.events)
      if (s.on_event && s.kinds.count(e.key.kind)) s.on_event(Event{e.type, e.key, *e.object, e.old});
    if (s.on_refusal)
      for (const auto& r : p.refusals) s.on_refusal(r.part, r.source, r.why ? &*r.why : nullptr);
    if (p.changed && s.on_changed) s.on_changed();
    if (p.synced && s.on_synced) s.on_synced();
  }
}

ObjectStore::SubscriptionId ObjectStore::subscribe(Subscriber s) {
  std::lock_guard d(deliver_mu_);
  const SubscriptionId id = next_id_++;
  Pending p;
  {
    // No call changes the data while deliver_mu_ is held: the pointers stay good.
    std::shared_lock lk(mu_);
    for (const auto& [source, rec] : sources_) {
      for (size_t i = 0; i < 2; ++i) {
        if (rec.good[i]) {
          const auto keys = keys_of(source, *rec.good[i]);
          for (size_t j = 0; j < keys.size(); ++j) p.events.push_back({Event::Type::added, keys[j], &(*rec.good[i])[j], nullptr});
        }
        if (rec.refused[i]) p.refusals.push_back({i == 0 ? Part::objects : Part::tracing, source, rec.refused[i]});
      }
    }
    p.synced = synced_told_;
  }
  const auto& sub = subscribers_.emplace(id, std::move(s)).first->second;
  deliver(p, &sub);
  return id;
}

void ObjectStore::unsubscribe(SubscriptionId id) {
  std::lock_guard d(deliver_mu_);
  subscribers_.erase(id);
}

std::vector<SourceState> ObjectStore::sources(Part part) const {
  std::shared_lock lk(mu_);
  std::vector<SourceState> out;
  const size_t i = index(part);
  for (const auto& [source, rec] : sources_) {
    if (!rec.good[i] && !rec.refused[i]) continue;
    SourceState s;
    s.file = source;
    s.objects = rec.good[i] ? rec.good[i]->size() : 0;
    if (rec.refused[i]) {
      s.ok = false;
      s.refusal = *rec.refused[i];
      s.error = s.refusal.message();
    }
    out.push_back(std::move(s));
  }
  return out;
}

size_t ObjectStore::size() const {
  std::shared_lock lk(mu_);
  size_t n = 0;
  for (const auto& [source, rec] : sources_)
    for (const auto& part : rec.good)
      if (part) n += part->size();
  return n;
}

}  // namespace myelin::objects
