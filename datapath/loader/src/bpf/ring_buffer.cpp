// SPDX-License-Identifier: Apache-2.0
#include "myelin/bpf/ring_buffer.hpp"

#include <bpf/libbpf.h>

#include "myelin/bpf/libbpf_log.hpp"

namespace myelin::bpf::detail {

Result<Ring> Ring::open(int map_fd, Sample sample, void* ctx, const std::string& what) {
  route_libbpf_log();
  LibbpfMessages said;
  Ring r;
  r.rb_ = ring_buffer__new(map_fd, sample, ctx, nullptr);
  if (!r.rb_) return said.error("open the " + what + " ring buffer", errno);
  return r;
}

int Ring::poll(int timeout_ms) { return rb_ ? ring_buffer__poll(rb_, timeout_ms) : -EBADF; }

Ring::~Ring() {
  if (rb_) ring_buffer__free(rb_);
}

Ring& Ring::operator=(Ring&& o) noexcept {
  if (this != &o) {
    if (rb_) ring_buffer__free(rb_);
    rb_ = std::exchange(o.rb_, nullptr);
  }
  return *this;
}

}  // namespace myelin::bpf::detail
