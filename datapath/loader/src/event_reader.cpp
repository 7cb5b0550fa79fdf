// SPDX-License-Identifier: Apache-2.0
#include <bpf/libbpf.h>

#include <cstring>

#include "myelin/datapath/datapath.hpp"

namespace myelin::datapath {

int EventReader::on_sample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<EventReader*>(ctx);
  if (size < sizeof(myelin_flow_event)) {  // a producer of another ABI: counted, skipped
    ++self->malformed_;
    return 0;
  }
  myelin_flow_event ev;
  std::memcpy(&ev, data, sizeof ev);
  self->cb_(ev);
  return 0;
}

Result<std::unique_ptr<EventReader>> EventReader::open(int events_fd, Callback cb) {
  auto r = std::unique_ptr<EventReader>(new EventReader());
  r->cb_ = std::move(cb);
  r->rb_ = ring_buffer__new(events_fd, &EventReader::on_sample, r.get(), nullptr);
  if (!r->rb_) return Error::from_errno("open ring buffer");
  return r;
}

EventReader::~EventReader() {
  if (rb_) ring_buffer__free(rb_);
}

int EventReader::poll(int timeout_ms) { return ring_buffer__poll(rb_, timeout_ms); }

int EventReader::epoll_fd() const { return ring_buffer__epoll_fd(rb_); }

}  // namespace myelin::datapath
