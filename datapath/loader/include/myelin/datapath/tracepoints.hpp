// SPDX-License-Identifier: Apache-2.0
// Tracepoint attachment through the tracefs the agent mounted at start
// (pseudofs::Mounts), not through libbpf's own guess of where tracefs is:
// a tracepoint's id is read from <tracefs>/events/<subsystem>/<event>/id and
// the program is attached to a perf event of that id.
#pragma once

#include <string>
#include <vector>

#include "myelin/bpf/link.hpp"
#include "myelin/result.hpp"

struct bpf_object;
struct bpf_program;

namespace myelin::datapath {

// Attaches `prog` to tracepoint subsystem/event; the link owns the perf event.
Result<bpf::Link> attach_tracepoint(bpf_program* prog, const std::string& tracefs, const std::string& subsystem,
                                    const std::string& event);

// Attaches every loaded program of `obj` as its section says: "tracepoint/
// <subsystem>/<event>" through tracefs, the rest by libbpf's auto-attach.
// None are left behind on failure.
Result<std::vector<bpf::Link>> attach_programs(bpf_object* obj, const std::string& tracefs);

}  // namespace myelin::datapath
