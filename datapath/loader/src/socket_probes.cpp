// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/socket_probes.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "myelin/datapath/runtime_probes.hpp"
#include "myelin/datapath/tracepoints.hpp"
#include "sockets.skel.h"

namespace myelin::datapath {

Result<std::unique_ptr<SocketProbes>> SocketProbes::start(const std::string& tracefs, Callback cb) {
  std::unique_ptr<SocketProbes> p(new SocketProbes());
  auto skel = bpf::Skeleton<sockets>::open("sockets (the TCP sensor: syscalls connect/accept/close tracepoints)");
  if (!skel) return skel.error();
  p->skel_ = std::move(*skel);
  if (auto s = p->skel_.load(); !s) return s.error();
  auto links = attach_programs(p->skel_->obj, tracefs);
  if (!links) return Error{"attach the TCP sensor: " + links.error().message, links.error().code};
  p->links_ = std::move(*links);
  auto ring = bpf::RingBuffer<myelin_sock_event>::open(bpf_map__fd(p->skel_->maps.myelin_sock_events), std::move(cb), "TCP sensor");
  if (!ring) return ring.error();
  p->ring_ = std::move(*ring);
  return p;
}

int SocketProbes::poll(int timeout_ms) { return ring_.poll(timeout_ms); }

myelin_proc_stats SocketProbes::stats() const { return sum_proc_stats(bpf_map__fd(skel_->maps.myelin_sock_stats)); }

}  // namespace myelin::datapath
