// SPDX-License-Identifier: Apache-2.0
#include "myelin/bpf/link.hpp"

#include <bpf/libbpf.h>

namespace myelin::bpf {

void Link::reset() {
  if (link_) bpf_link__destroy(link_);
  link_ = nullptr;
}

}  // namespace myelin::bpf
