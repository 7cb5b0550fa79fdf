// SPDX-License-Identifier: Apache-2.0
#include "myelin/ipam/ipam.hpp"

#include <nlohmann/json.hpp>

#include "myelin/atomic_file.hpp"

namespace myelin::ipam {

bool Ipam::usable(net::Ipv4 ip) const {
  uint64_t first = cidr_.base.host, last = first + cidr_.size() - 1;
  if (cidr_.prefix <= 30 && (ip.host == first || ip.host == last)) return false;  // network, broadcast
  return cidr_.contains(ip);
}

uint64_t Ipam::capacity() const { return cidr_.prefix <= 30 ? cidr_.size() - 2 : cidr_.size(); }

Result<std::unique_ptr<Ipam>> Ipam::open(const net::Cidr4& cidr, const std::string& state_file) {
  auto ipam = std::unique_ptr<Ipam>(new Ipam(cidr, state_file));
  auto content = read_file(state_file);
  if (!content) return content.error();
  if (!*content) {
    if (auto s = ipam->save(); !s) return s.error();
    return ipam;
  }
  try {
    auto j = nlohmann::json::parse(**content);
    std::string saved = j.at("cidr").get<std::string>();
    if (saved != cidr.str())
      return Error{state_file + " holds allocations from pod CIDR " + saved + ", but the agent was started with " +
                   cidr.str() + ": refusing to reuse them (move the file away to start over)"};
    for (auto& [owner, ip] : j.at("allocations").items()) {
      auto parsed = net::parse_ipv4(ip.get<std::string>());
      if (!parsed || !ipam->usable(*parsed)) return Error{state_file + ": bad address for " + owner};
      ipam->by_owner_[owner] = *parsed;
      ipam->by_ip_[*parsed] = owner;
    }
    ipam->next_ = j.value("next", 0u);
  } catch (const std::exception& e) {
    return Error{state_file + " is corrupt (" + e.what() + "); not starting with unknown allocations"};
  }
  return ipam;
}

Status Ipam::save() const {
  nlohmann::json j;
  j["cidr"] = cidr_.str();
  j["next"] = next_;
  j["allocations"] = nlohmann::json::object();
  for (const auto& [owner, ip] : by_owner_) j["allocations"][owner] = ip.str();
  return write_file_atomic(file_, j.dump(1));
}

Result<net::Ipv4> Ipam::allocate(const std::string& owner) {
  std::lock_guard lk(mu_);
  if (auto it = by_owner_.find(owner); it != by_owner_.end()) return it->second;
  const uint64_t size = cidr_.size();
  for (uint64_t i = 0; i < size; ++i) {
    uint32_t offset = static_cast<uint32_t>((next_ + i) % size);
    net::Ipv4 ip{cidr_.base.host + offset};
    if (!usable(ip) || by_ip_.count(ip)) continue;
    by_owner_[owner] = ip;
    by_ip_[ip] = owner;
    next_ = static_cast<uint32_t>((offset + 1) % size);
    if (auto s = save(); !s) {
      by_owner_.erase(owner);
      by_ip_.erase(ip);
      return s.error();
    }
    return ip;
  }
  return Error{"no free address in " + cidr_.str(), ENOSPC};
}

Status Ipam::release(const std::string& owner) {
  std::lock_guard lk(mu_);
  auto it = by_owner_.find(owner);
  if (it == by_owner_.end()) return {};
  by_ip_.erase(it->second);
  by_owner_.erase(it);
  return save();
}

std::optional<net::Ipv4> Ipam::lookup(const std::string& owner) const {
  std::lock_guard lk(mu_);
  auto it = by_owner_.find(owner);
  if (it == by_owner_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, net::Ipv4> Ipam::allocations() const {
  std::lock_guard lk(mu_);
  return by_owner_;
}

uint64_t Ipam::used() const {
  std::lock_guard lk(mu_);
  return by_owner_.size();
}

}  // namespace myelin::ipam
