// SPDX-License-Identifier: Apache-2.0
// Skeleton<T>: owns one instance of a bpftool-generated skeleton `T` (built
// with the C++ statics bpftool emits: T::open, T::load, T::attach,
// T::destroy). Open, then set read-only globals and map sizes through ->,
// then load, then attach; each step's error names the object and carries
// libbpf's message. Not copyable; movable (a moved-from Skeleton is empty).
// Destruction closes the object: its maps and programs go unless something
// else holds them (a pin, a tc filter, a link).
#pragma once

#include <bpf/libbpf.h>

#include <cerrno>
#include <string>
#include <utility>

#include "myelin/bpf/libbpf_log.hpp"
#include "myelin/result.hpp"

namespace myelin::bpf {

template <typename T>
class Skeleton {
 public:
  Skeleton() = default;
  // `name` names the object in errors ("lxc", "process probes").
  static Result<Skeleton> open(std::string name, const bpf_object_open_opts* opts = nullptr) {
    route_libbpf_log();
    LibbpfMessages said;
    errno = 0;
    T* s = T::open(opts);
    if (!s) return said.error("open BPF object " + name, errno);
    return Skeleton(s, std::move(name));
  }
  Status load() {
    LibbpfMessages said;
    if (int err = T::load(skel_); err) return said.error("load BPF object " + name_, err);
    return {};
  }
  // Every program by its section (libbpf's auto-attach); links live in the skeleton.
  Status attach() {
    LibbpfMessages said;
    if (int err = T::attach(skel_); err) return said.error("attach BPF object " + name_, err);
    return {};
  }

  ~Skeleton() { reset(); }
  Skeleton(const Skeleton&) = delete;
  Skeleton& operator=(const Skeleton&) = delete;
  Skeleton(Skeleton&& o) noexcept
      : skel_(std::exchange(o.skel_, nullptr)), destroy_(std::exchange(o.destroy_, nullptr)), name_(std::move(o.name_)) {}
  Skeleton& operator=(Skeleton&& o) noexcept {
    if (this != &o) {
      reset();
      skel_ = std::exchange(o.skel_, nullptr);
      destroy_ = std::exchange(o.destroy_, nullptr);
      name_ = std::move(o.name_);
    }
    return *this;
  }

  T* get() const { return skel_; }
  T* operator->() const { return skel_; }
  explicit operator bool() const { return skel_ != nullptr; }
  const std::string& name() const { return name_; }

 private:
  // T::destroy is taken where T is complete (open()), so an owner's header
  // may hold a Skeleton of a type it only declares.
  Skeleton(T* s, std::string name) : skel_(s), destroy_(&T::destroy), name_(std::move(name)) {}
  void reset() {
    if (skel_) destroy_(skel_);
    skel_ = nullptr;
  }

  T* skel_ = nullptr;
  void (*destroy_)(T*) = nullptr;
  std::string name_;
};

}  // namespace myelin::bpf
