// SPDX-License-Identifier: Apache-2.0
#include "myelin/endpoints/endpoint_store.hpp"

#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include "myelin/atomic_file.hpp"

namespace myelin::endpoints {
namespace {
std::string key(const std::string& cid, const std::string& ifname) { return cid + "/" + ifname; }
}  // namespace

Result<std::unique_ptr<EndpointStore>> EndpointStore::open(const std::string& state_file) {
  auto store = std::unique_ptr<EndpointStore>(new EndpointStore(state_file));
  auto content = read_file(state_file);
  if (!content) return content.error();
  if (!*content) {
    if (auto s = store->save(); !s) return s.error();
    return store;
  }
  try {
    auto j = nlohmann::json::parse(**content);
    store->next_id_ = j.at("next_id").get<uint32_t>();
    api::EndpointList list;
    auto st = google::protobuf::util::JsonStringToMessage(j.at("endpoints").dump(), &list);
    if (!st.ok()) throw std::runtime_error(st.ToString());
    for (const auto& ep : list.endpoints()) {
      store->eps_[key(ep.container_id(), ep.ifname())] = ep;
      store->by_id_[ep.id()] = key(ep.container_id(), ep.ifname());
      store->next_id_ = std::max(store->next_id_, ep.id() + 1);
    }
  } catch (const std::exception& e) {
    return Error{state_file + " is corrupt (" + e.what() + "); not starting with unknown endpoints"};
  }
  return store;
}

Status EndpointStore::save() const {
  api::EndpointList list;
  for (const auto& [k, ep] : eps_) *list.add_endpoints() = ep;
  std::string eps;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(list, &eps, opts).ok()) return Error{"cannot encode endpoints"};
  nlohmann::json j;
  j["next_id"] = next_id_;
  j["endpoints"] = nlohmann::json::parse(eps);
  return write_file_atomic(file_, j.dump(1));
}

uint32_t EndpointStore::next_id() {
  std::lock_guard lk(mu_);
  uint32_t id = next_id_++;
  (void)save();  // the id is persisted with the endpoint at upsert; this only narrows reuse windows
  return id;
}

Status EndpointStore::upsert(const api::Endpoint& ep) {
  std::lock_guard lk(mu_);
  ++generation_;
  const std::string k = key(ep.container_id(), ep.ifname());
  auto old = eps_.find(k);
  std::optional<api::Endpoint> prev;
  if (old != eps_.end()) {
    prev = old->second;
    by_id_.erase(old->second.id());
  }
  eps_[k] = ep;
  by_id_[ep.id()] = k;
  next_id_ = std::max(next_id_, ep.id() + 1);
  if (auto s = save(); !s) {
    by_id_.erase(ep.id());
    if (prev) {
      eps_[k] = *prev;
      by_id_[prev->id()] = k;
    } else {
      eps_.erase(k);
    }
    return s;
  }
  return {};
}

Status EndpointStore::upsert_all(const std::vector<api::Endpoint>& eps) {
  std::lock_guard lk(mu_);
  ++generation_;
  auto prev_eps = eps_;
  auto prev_ids = by_id_;
  const uint32_t prev_next = next_id_;
  for (const auto& ep : eps) {
    const std::string k = key(ep.container_id(), ep.ifname());
    if (auto old = eps_.find(k); old != eps_.end()) by_id_.erase(old->second.id());
    eps_[k] = ep;
    by_id_[ep.id()] = k;
    next_id_ = std::max(next_id_, ep.id() + 1);
  }
  if (auto s = save(); !s) {
    eps_ = std::move(prev_eps);
    by_id_ = std::move(prev_ids);
    next_id_ = prev_next;
    return s;
  }
  return {};
}

Status EndpointStore::remove(const std::string& container_id, const std::string& ifname) {
  std::lock_guard lk(mu_);
  ++generation_;
  auto it = eps_.find(key(container_id, ifname));
  if (it == eps_.end()) return {};
  by_id_.erase(it->second.id());
  eps_.erase(it);
  return save();
}

std::optional<api::Endpoint> EndpointStore::get(const std::string& container_id, const std::string& ifname) const {
  std::lock_guard lk(mu_);
  auto it = eps_.find(key(container_id, ifname));
  if (it == eps_.end()) return std::nullopt;
  return it->second;
}

std::optional<api::Endpoint> EndpointStore::get_by_id(uint32_t id) const {
  std::lock_guard lk(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return eps_.at(it->second);
}

template <typename Pred>
std::optional<api::Endpoint> EndpointStore::find(Pred p) const {
  std::lock_guard lk(mu_);
  for (const auto& [k, ep] : eps_)
    if (p(ep)) return ep;
  return std::nullopt;
}

std::optional<api::Endpoint> EndpointStore::get_by_ip(const std::string& ip) const {
  return find([&](const api::Endpoint& ep) { return ep.ip() == ip; });
}

std::optional<api::Endpoint> EndpointStore::get_by_ifindex(uint32_t idx) const {
  return find([&](const api::Endpoint& ep) { return ep.host_ifindex() == idx; });
}

std::vector<api::Endpoint> EndpointStore::list() const {
  std::lock_guard lk(mu_);
  std::vector<api::Endpoint> out;
  for (const auto& [id, k] : by_id_) out.push_back(eps_.at(k));
  return out;
}

}  // namespace myelin::endpoints
