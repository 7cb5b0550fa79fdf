// SPDX-License-Identifier: Apache-2.0
// How an event shows a kprobe's return value, from its returnArg type (as
// Tetragon does: int_arg, long_arg, or size_arg for the unsigned types).
#pragma once

#include "runtime/event_store.hpp"
#include "vocabulary.hpp"

namespace myelin::tracing {

constexpr runtime::Event::ReturnArg return_arg_of(ArgType t) {
  switch (t) {
    case ArgType::int64:
    case ArgType::long_: return runtime::Event::ReturnArg::long_arg;
    case ArgType::uint32:
    case ArgType::uint64:
    case ArgType::size_t_: return runtime::Event::ReturnArg::size_arg;
    default: return runtime::Event::ReturnArg::int_arg;
  }
}

}  // namespace myelin::tracing
