// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/socket_probes.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "myelin/datapath/runtime_probes.hpp"
#include "myelin/datapath/tracepoints.hpp"
#include "sockets.skel.h"

namespace myelin::datapath {

int SocketProbes::on_sample(void* ctx, void* data, size_t size) {
  if (size < sizeof(myelin_sock_event)) return 0;
  static_cast<SocketProbes*>(ctx)->cb_(*static_cast<const myelin_sock_event*>(data));
  return 0;
}

Result<std::unique_ptr<SocketProbes>> SocketProbes::start(const std::string& tracefs, Callback cb) {
  std::unique_ptr<SocketProbes> p(new SocketProbes());
  p->cb_ = std::move(cb);
  p->skel_ = sockets__open_and_load();
  if (!p->skel_) return Error::from_errno("load the TCP sensor (syscalls connect/accept/close tracepoints)");
  auto links = attach_programs(p->skel_->obj, tracefs);
  if (!links) return Error{"attach the TCP sensor: " + links.error().message, links.error().code};
  p->links_ = std::move(*links);
  p->rb_ = ring_buffer__new(bpf_map__fd(p->skel_->maps.myelin_sock_events), &SocketProbes::on_sample, p.get(), nullptr);
  if (!p->rb_) return Error::from_errno("open the TCP sensor's ring buffer");
  return p;
}

SocketProbes::~SocketProbes() {
  if (rb_) ring_buffer__free(rb_);
  for (auto* l : links_) bpf_link__destroy(l);
  if (skel_) sockets__destroy(skel_);
}

int SocketProbes::poll(int timeout_ms) { return ring_buffer__poll(rb_, timeout_ms); }

myelin_proc_stats SocketProbes::stats() const { return sum_proc_stats(bpf_map__fd(skel_->maps.myelin_sock_stats)); }

}  // namespace myelin::datapath
