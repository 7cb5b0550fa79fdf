// SPDX-License-Identifier: Apache-2.0
// Link: owns one bpf_link (a program attached to a hook); destroying it
// detaches the program. Not copyable; movable.
#pragma once

#include <string>
#include <utility>

#include "myelin/bpf/libbpf_log.hpp"
#include "myelin/result.hpp"

struct bpf_link;

namespace myelin::bpf {

class Link {
 public:
  Link() = default;
  explicit Link(bpf_link* l) : link_(l) {}
  // Runs a libbpf attach call (returning a bpf_link*, NULL with errno on
  // failure); the error names `what` and carries libbpf's message.
  template <typename Attach>
  static Result<Link> attach(const std::string& what, Attach&& call) {
    LibbpfMessages said;
    bpf_link* l = call();
    if (!l) return said.error(what, errno);
    return Link(l);
  }

  ~Link() { reset(); }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  Link(Link&& o) noexcept : link_(std::exchange(o.link_, nullptr)) {}
  Link& operator=(Link&& o) noexcept {
    if (this != &o) {
      reset();
      link_ = std::exchange(o.link_, nullptr);
    }
    return *this;
  }

  bpf_link* get() const { return link_; }
  explicit operator bool() const { return link_ != nullptr; }
  void reset();  // detaches now

 private:
  bpf_link* link_ = nullptr;
};

}  // namespace myelin::bpf
