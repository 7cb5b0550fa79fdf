// SPDX-License-Identifier: Apache-2.0
#include "pod_maps.hpp"

#include <bpf/libbpf.h>

#include "myelin/datapath/datapath.hpp"

namespace myelin::datapath {

Status use_pod_maps(bpf_object* obj, const Datapath& dp, const std::string& who) {
  bpf_map* m = nullptr;
  bpf_object__for_each_map(m, obj) {
    if (!bpf_map__pin_path(m) && bpf_map__is_internal(m)) continue;  // .rodata, .bss: the object's own
    const char* name = bpf_map__name(m);
    int fd = dp.map_fd(name);
    if (fd < 0) return Error{who + ": the pod datapath has no map " + name};
    if (int err = bpf_map__set_pin_path(m, nullptr); err) return Error::from_errno(std::string("unpin ") + name, -err);
    if (int err = bpf_map__reuse_fd(m, fd); err) return Error::from_errno(std::string("reuse ") + name, -err);
  }
  return {};
}

}  // namespace myelin::datapath
