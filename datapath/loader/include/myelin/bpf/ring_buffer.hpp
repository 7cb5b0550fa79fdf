// SPDX-License-Identifier: Apache-2.0
// RingBuffer<Event, MinSize>: reads one BPF ring buffer map whose records are
// Events and hands each to a callback on poll(). A record of MinSize bytes or
// more but shorter than Event (an older layout whose fields Event extends, as
// a previous release's programs write until an upgrade replaces them) is read
// with the missing fields zero. A shorter one (a producer of another ABI) is
// skipped and counted in malformed(), never read past its end. Not copyable; movable (the callback's context lives on
// the heap, so libbpf's pointer to it survives a move).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "myelin/result.hpp"

struct ring_buffer;

namespace myelin::bpf {

namespace detail {
// The untyped libbpf ring_buffer (ring_buffer.cpp).
class Ring {
 public:
  using Sample = int (*)(void* ctx, void* data, size_t size);
  Ring() = default;
  static Result<Ring> open(int map_fd, Sample sample, void* ctx, const std::string& what);
  int poll(int timeout_ms);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  Ring(Ring&& o) noexcept : rb_(std::exchange(o.rb_, nullptr)) {}
  Ring& operator=(Ring&& o) noexcept;

 private:
  ring_buffer* rb_ = nullptr;
};
}  // namespace detail

template <typename Event, size_t MinSize = sizeof(Event)>
class RingBuffer {
  static_assert(MinSize <= sizeof(Event));

 public:
  using Callback = std::function<void(const Event&)>;
  RingBuffer() = default;  // empty until open(): poll() says -EBADF
  // `what` names the ring in errors ("flow events").
  static Result<RingBuffer> open(int map_fd, Callback cb, const std::string& what) {
    RingBuffer r;
    r.state_ = std::make_unique<State>();
    r.state_->cb = std::move(cb);
    auto ring = detail::Ring::open(map_fd, &RingBuffer::on_sample, r.state_.get(), what);
    if (!ring) return ring.error();
    r.ring_ = std::move(*ring);
    return r;
  }
  RingBuffer(RingBuffer&&) noexcept = default;
  RingBuffer& operator=(RingBuffer&& o) noexcept {
    ring_ = std::move(o.ring_);  // first: the ring it replaces points at the state it replaces
    state_ = std::move(o.state_);
    return *this;
  }
  int poll(int timeout_ms) { return ring_.poll(timeout_ms); }  // records consumed, or -errno
  uint64_t malformed() const { return state_ ? state_->malformed.load(std::memory_order_relaxed) : 0; }

 private:
  struct State {
    Callback cb;
    std::atomic<uint64_t> malformed{0};
  };
  static int on_sample(void* ctx, void* data, size_t size) {
    auto* s = static_cast<State*>(ctx);
    if (size < MinSize) {
      s->malformed.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    if (size < sizeof(Event)) {
      Event ev{};
      std::memcpy(&ev, data, size);
      s->cb(ev);
      return 0;
    }
    // Records start 8-byte aligned in the ring, enough for every Event here.
    s->cb(*static_cast<const Event*>(data));
    return 0;
  }

  std::unique_ptr<State> state_;  // declared first: the ring, which points at it, goes first
  detail::Ring ring_;
};

}  // namespace myelin::bpf
