// SPDX-License-Identifier: Apache-2.0
#include "nodeport/address_watch.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace myelin::nodeport {

Result<AddressWatch> AddressWatch::open() {
  UniqueFd nl(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
  if (!nl) return Error::from_errno("rtnetlink socket");
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_IPV4_IFADDR;
  if (::bind(nl.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return Error::from_errno("subscribe to address changes");
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return Error::from_errno("eventfd");
  return AddressWatch(std::move(nl), std::move(wake));
}

Status AddressWatch::start(std::function<void()> on_change) {
  if (thread_.joinable()) return Error{"address watch already started"};
  on_change_ = std::move(on_change);
  thread_ = std::thread([this] { run(); });
  return {};
}

void AddressWatch::stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
  thread_.join();
}

void AddressWatch::run() {
  alignas(nlmsghdr) char buf[16384];
  for (;;) {
    pollfd fds[2] = {{nl_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    // Drain the burst (an address and its routes come together); an overrun
    // (ENOBUFS) lost messages but still means "something changed".
    bool changed = false;
    for (;;) {
      ssize_t n = ::recv(nl_.get(), buf, sizeof(buf), 0);
      if (n > 0 || (n < 0 && errno == ENOBUFS)) {
        changed = true;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      break;  // EAGAIN: drained
    }
    if (changed && on_change_) on_change_();
  }
}

}  // namespace myelin::nodeport
