// SPDX-License-Identifier: Apache-2.0
#include "myelin/identity/identity_allocator.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "myelin/abi/net.hpp"
#include "myelin/atomic_file.hpp"

namespace myelin::identity {

std::string Identities::reserved_name(uint32_t id) { return abi::reserved_identity_name(id); }

Result<std::unique_ptr<IdentityAllocator>> IdentityAllocator::open(const std::string& state_file, uint32_t first) {
  auto a = std::unique_ptr<IdentityAllocator>(new IdentityAllocator(state_file));
  a->last_ = first >= kFirstLocalIdentity ? 0xfffffffeu & ~MYELIN_IDENTITY_IPBLOCK : kLastClusterIdentity;
  a->next_ = first;
  auto content = read_file(state_file);
  if (!content) return content.error();
  if (!*content) {
    if (auto s = a->save(); !s) return s.error();
    return a;
  }
  try {
    auto j = nlohmann::json::parse(**content);
    a->next_ = std::max(first, j.at("next").get<uint32_t>());
    for (const auto& e : j.at("identities")) {
      Entry entry{e.at("labels").get<std::vector<std::string>>(), e.at("refs").get<uint32_t>()};
      uint32_t id = e.at("id").get<uint32_t>();
      a->by_labels_[entry.labels] = id;
      a->by_id_[id] = std::move(entry);
    }
  } catch (const std::exception& e) {
    return Error{state_file + " is corrupt (" + e.what() + ")"};
  }
  return a;
}

Status IdentityAllocator::save() const {
  nlohmann::json j;
  j["next"] = next_;
  j["identities"] = nlohmann::json::array();
  for (const auto& [id, e] : by_id_) j["identities"].push_back({{"id", id}, {"labels", e.labels}, {"refs", e.refs}});
  return write_file_atomic(file_, j.dump(1));
}

Result<uint32_t> IdentityAllocator::acquire(const std::vector<std::string>& labels) {
  std::vector<std::string> sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::lock_guard lk(mu_);
  uint32_t id;
  if (auto it = by_labels_.find(sorted); it != by_labels_.end()) {
    id = it->second;
    ++by_id_[id].refs;
  } else {
    if (next_ >= last_) return Error{"identity space exhausted"};
    id = next_++;
    by_id_[id] = Entry{sorted, 1};
    by_labels_[sorted] = id;
  }
  if (auto s = save(); !s) return s.error();
  return id;
}

Status IdentityAllocator::release(uint32_t id) {
  std::lock_guard lk(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return {};
  if (--it->second.refs == 0) {
    by_labels_.erase(it->second.labels);
    by_id_.erase(it);
  }
  return save();
}

std::optional<std::vector<std::string>> IdentityAllocator::labels(uint32_t id) const {
  if (auto name = reserved_name(id); !name.empty()) return std::vector<std::string>{"reserved:" + name};
  std::lock_guard lk(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second.labels;
}

std::map<uint32_t, std::vector<std::string>> IdentityAllocator::list() const {
  std::lock_guard lk(mu_);
  std::map<uint32_t, std::vector<std::string>> out;
  for (const auto& [id, e] : by_id_) out[id] = e.labels;
  return out;
}

}  // namespace myelin::identity
