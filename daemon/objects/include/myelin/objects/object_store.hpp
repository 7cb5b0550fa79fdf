// SPDX-License-Identifier: Apache-2.0
// daemon/objects (myelin_objects): the node's one copy of the Kubernetes objects, typed, one decoder per kind, with subscriptions.
// ObjectStore: the node's one copy of the Kubernetes objects it acts on
// (Namespace, Pod, the network policy kinds, Service, EndpointSlice, Node,
// TracingPolicy[Namespaced]), typed, fed by every source (the manifests
// directory, the API server's reflectors) through the one decoder of
// objects/decode.hpp, and told to subscribers as added / updated / deleted
// per kind, with "a batch is complete" (changed) and "every source has
// synced". Components keep no copy of their own: they subscribe, and read.
//
// Objects are kept per source (a file, or k8s:<resource>/[<ns>/]<name>)
// in the source's order, so a source that fails to decode keeps its last
// good version in force, and is listed, by parts, as refused. A source's
// text has two parts decoded and refused apart: its TracingPolicies, and
// everything else (see objects::Decoded).
#pragma once

#include <compare>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "myelin/objects/decode.hpp"

namespace myelin::objects {

enum class Part { objects, tracing };

// One object: where it came from and what it is. `nth` tells apart the
// same kind/namespace/name given twice by one source (0 almost always).
struct Key {
  std::string source;
  Kind kind = Kind::pod;
  std::string ns, name;
  uint32_t nth = 0;
  auto operator<=>(const Key&) const = default;
  bool operator==(const Key&) const = default;
};

struct Event {
  enum class Type { added, updated, deleted } type;
  const Key& key;
  const Object& object;  // the object now (added, updated), or the one deleted
  const Object* old;     // updated: what it replaces; null otherwise
};

// A source's state of one part: in force, or refused (and why, by parts).
struct SourceState {
  std::string file;
  bool ok = true;
  std::string error;  // file:line: field: reason, when !ok
  size_t objects = 0;  // in force
  policy::Refusal refusal;
};

class ObjectStore {
 public:
  struct Subscriber {
    std::set<Kind> kinds;                                  // the kinds whose events it is told
    std::function<void(const Event&)> on_event;
    // A source's part refused (why) or no longer refused (null); optional.
    std::function<void(Part part, const std::string& source, const policy::Refusal* why)> on_refusal;
    std::function<void()> on_changed;                      // a source completed a batch; optional
    std::function<void()> on_synced;                       // once, when every source has synced; optional
  };
  using SubscriptionId = uint64_t;

  ObjectStore() = default;
  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

  // ---- for sources. Each call is delivered to every subscriber before it
  // returns, in the order calls are made (one at a time, from any thread).
  // A subscriber must not call these from its callbacks.
  void apply(const std::string& source, Decoded decoded);
  void apply_text(const std::string& source, const std::string& text);  // decode() then apply()
  // The source could not be read or decoded at all: its objects part is
  // refused (its last good version stays in force); its TracingPolicies stay.
  void refuse(const std::string& source, policy::Refusal why);
  void remove(const std::string& source);
  void changed();
  // A source registers before it delivers anything, and says once when it
  // has delivered its first complete view.
  size_t add_source(const std::string& name);
  void synced(size_t source);
  bool all_synced() const;

  // ---- for subscribers. subscribe() replays what is stored (added events,
  // refusals, and synced if that happened) before it returns.
  SubscriptionId subscribe(Subscriber s);
  void unsubscribe(SubscriptionId id);

  // ---- reading (any thread; callbacks may read). Objects of one type in
  // source order; policy::NetworkPolicy is every network policy kind,
  // tracing::TracingPolicy both tracing kinds.
  template <typename T, typename F>
  void each(F&& fn) const {
    std::shared_lock lk(mu_);
    for (const auto& [source, rec] : sources_)
      for (const auto& part : rec.good)
        if (part)
          for (const auto& o : *part)
            if (const T* v = std::get_if<T>(&o)) fn(*v);
  }
  // Every object in force, in source order, in one consistent view.
  template <typename F>
  void each_object(F&& fn) const {
    std::shared_lock lk(mu_);
    for (const auto& [source, rec] : sources_)
      for (const auto& part : rec.good)
        if (part)
          for (const auto& o : *part) fn(o);
  }
  template <typename T>
  std::vector<T> list() const {
    std::vector<T> out;
    each<T>([&](const T& v) { out.push_back(v); });
    return out;
  }
  // Every source with objects or a refusal in that part, by name.
  std::vector<SourceState> sources(Part part = Part::objects) const;
  size_t size() const;  // objects in force, every kind

 private:
  struct Record {
    std::optional<std::vector<Object>> good[2];     // per Part: the last good version
    std::optional<policy::Refusal> refused[2];      // per Part: why the last change was refused
  };
  struct Pending;  // what one call tells the subscribers
  void set_part(const std::string& source, Part part, std::optional<std::vector<Object>> next, Pending& out);
  void refuse_part(const std::string& source, Part part, policy::Refusal why, Pending& out);
  void deliver(const Pending& p, const Subscriber* only = nullptr);

  std::mutex deliver_mu_;       // one call at a time, its delivery included; taken before mu_
  mutable std::shared_mutex mu_;  // the data
  std::map<std::string, Record> sources_;
  std::map<SubscriptionId, Subscriber> subscribers_;  // under deliver_mu_
  SubscriptionId next_id_ = 1;
  std::vector<bool> synced_;    // per registered source (under mu_)
  bool synced_told_ = false;
};

}  // namespace myelin::objects
