// SPDX-License-Identifier: Apache-2.0
// The kernel pseudo-filesystems the agent uses, in one table, mounted once at
// start before any component touches them. A freshly booted machine has
// none of them mounted; no component mounts or guesses a path itself: each
// is handed its path (or the reason it is missing) from here.
//
//   bpffs      /sys/fs/bpf           pinned datapath maps            required
//   tracefs    /sys/kernel/tracing   tracepoint ids and formats      optional
//   securityfs /sys/kernel/security  the active LSMs (bpf-lsm probe) optional
//
// debugfs is not in the table: nothing reads it. libbpf looks for tracefs
// under /sys/kernel/debug/tracing only when that exists and otherwise under
// /sys/kernel/tracing, and our tracepoints take their ids from the tracefs
// given here, not from libbpf's lookup.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "myelin/result.hpp"

namespace myelin::pseudofs {

enum class Fs : uint8_t { bpffs, tracefs, securityfs };

struct Spec {
  Fs fs;
  std::string_view name;       // in the log and the feature report
  std::string_view type;       // mount(2) filesystem type
  std::string_view where;      // mount point
  uint64_t magic;              // statfs f_type of the mounted filesystem
  std::string_view options;    // mount(2) data ("" for none)
  std::string_view needed_by;  // what stops working without it
  bool required;               // the agent cannot run without it
};

std::span<const Spec> table();
const Spec& spec(Fs fs);

// What to do at a mount point, from what statfs says is there now
// (nullopt: statfs failed, e.g. the directory does not exist).
enum class Action { use, mount };
Action decide(const Spec& s, std::optional<uint64_t> f_type);

// How ensure() sees and changes the machine: the real syscalls, or a unit
// test's stand-in (mount returns 0 or an errno).
struct System {
  std::function<std::optional<uint64_t>(const std::string& path)> fs_type;
  std::function<int(const Spec& s)> mount;
};
System real_system();

struct State {
  const Spec* spec = nullptr;
  bool available = false;
  bool mounted_now = false;  // mounted by this agent (not found mounted)
  std::string error;         // why unavailable, naming the mount
  std::string path() const { return available ? std::string(spec->where) : std::string(); }
  // One line of the feature report: where it is and what uses it, or why
  // it is missing and what is off because of it.
  std::string detail() const;
};

class Mounts {
 public:
  // Mounts what the table lists and the machine lacks, logging each mount
  // made. Fails (naming the mount) only when a required one cannot be had;
  // an optional one is reported unavailable with its reason.
  static Result<Mounts> ensure(const System& sys = real_system());
  const State& operator[](Fs fs) const { return states_[static_cast<size_t>(fs)]; }
  const std::vector<State>& states() const { return states_; }

 private:
  std::vector<State> states_;
};

}  // namespace myelin::pseudofs
