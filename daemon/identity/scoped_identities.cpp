// SPDX-License-Identifier: Apache-2.0
#include "myelin/identity/scoped_identities.hpp"

namespace myelin::identity {

bool local_scope(const std::vector<std::string>& labels) {
  for (const auto& l : labels)
    if (l.rfind("cidr:", 0) == 0) return true;
  return false;
}

Result<uint32_t> ScopedIdentities::acquire(const std::vector<std::string>& labels) {
  return local_scope(labels) ? local_.acquire(labels) : cluster_.acquire(labels);
}

Status ScopedIdentities::release(uint32_t id) { return id >= kFirstLocalIdentity ? local_.release(id) : cluster_.release(id); }

std::optional<std::vector<std::string>> ScopedIdentities::labels(uint32_t id) const {
  return id >= kFirstLocalIdentity ? local_.labels(id) : cluster_.labels(id);
}

std::map<uint32_t, std::vector<std::string>> ScopedIdentities::list() const {
  auto out = cluster_.list();
  for (auto& [id, l] : local_.list()) out[id] = std::move(l);
  return out;
}

}  // namespace myelin::identity
