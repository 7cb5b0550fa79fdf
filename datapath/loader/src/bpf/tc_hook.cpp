// SPDX-License-Identifier: Apache-2.0
#include "myelin/bpf/tc_hook.hpp"

#include <bpf/libbpf.h>

#include <string>

#include "myelin/bpf/libbpf_log.hpp"

namespace myelin::bpf {
namespace {

bpf_tc_attach_point point(TcHook::Side s) { return s == TcHook::Side::ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS; }
const char* name(TcHook::Side s) { return s == TcHook::Side::ingress ? "ingress" : "egress"; }

}  // namespace

Status TcHook::create_clsact(int ifindex) {
  route_libbpf_log();
  LibbpfMessages said;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) return said.error("create clsact on ifindex " + std::to_string(ifindex), err);
  return {};
}

Status TcHook::attach(int prog_fd) const {
  LibbpfMessages said;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = point(side_));
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE, .handle = handle_, .priority = priority_);
  if (int err = bpf_tc_attach(&hook, &opts); err)
    return said.error(std::string("tc attach ") + name(side_) + " on ifindex " + std::to_string(ifindex_), err);
  return {};
}

Status TcHook::detach() const {
  LibbpfMessages said;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = point(side_));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle_, .priority = priority_);
  int err = bpf_tc_detach(&hook, &opts);
  if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL)
    return said.error(std::string("tc detach ") + name(side_) + " on ifindex " + std::to_string(ifindex_), err);
  return {};
}

bool TcHook::attached() const {
  QuietLibbpf quiet;  // "not found" is an answer here, not a warning
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = point(side_));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle_, .priority = priority_);
  return bpf_tc_query(&hook, &opts) == 0;
}

}  // namespace myelin::bpf
