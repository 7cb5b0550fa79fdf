// SPDX-License-Identifier: Apache-2.0
// AddressWatch: tells when an IPv4 address is added to or removed from an
// interface of this network namespace (rtnetlink RTMGRP_IPV4_IFADDR), so
// the NodePort, externalIP and LoadBalancer frontends follow the devices'
// addresses instead of the ones they had when the agent started (an
// externalIP assigned to the node later, a DHCP renumbering).
#pragma once

#include <functional>
#include <thread>

#include "myelin/fd.hpp"
#include "myelin/result.hpp"

namespace myelin::nodeport {

class AddressWatch {
 public:
  // Subscribed at once: a change from here on is reported, even one made
  // before start(). on_change runs on the watch's thread, once per burst.
  static Result<AddressWatch> open();
  AddressWatch(AddressWatch&&) = default;
  AddressWatch& operator=(AddressWatch&&) = delete;
  ~AddressWatch() { stop(); }

  Status start(std::function<void()> on_change);
  void stop();

 private:
  AddressWatch(UniqueFd nl, UniqueFd wake) : nl_(std::move(nl)), wake_(std::move(wake)) {}
  void run();

  UniqueFd nl_, wake_;
  std::function<void()> on_change_;
  std::thread thread_;
};

}  // namespace myelin::nodeport
