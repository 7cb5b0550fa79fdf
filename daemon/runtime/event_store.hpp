// SPDX-License-Identifier: Apache-2.0
// Runtime events (process_exec, process_exit, and the process_tracepoint,
// _kprobe, _uprobe and _lsm events of TracingPolicy hooks and the sensors) in Tetragon's JSON shape, a
// bounded in-memory store of them with sequence numbers for `--follow`, and
// the filters `myelin events` applies in the agent.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "myelin/abi/tracing.hpp"
#include "process_cache.hpp"

namespace myelin::runtime {

struct Event {
  enum class Type { exec, exit, tracepoint, lsm, uprobe, kprobe, usdt, loader } type = Type::exec;
  int64_t time_ns = 0;  // wall clock
  Process process;
  std::optional<Process> parent;
  uint32_t status = 0;  // exit: the exit code, or 0 when killed by a signal
  std::string signal;   // exit: "SIGKILL", ... when a signal ended it
  uint64_t seq = 0;
  // tracepoint, uprobe, lsm: what a TracingPolicy hook saw and did
  // (tracepoint: subsys/event; uprobe: subsys is the file, event the symbol;
  // lsm: event is the hook; kprobe: event is the kernel function, e.g. the TCP sensor's tcp_connect;
  // usdt: subsys is the file, event provider:name; loader: subsys is the file mapped, event its build id in base64)
  std::string policy, subsys, event;
  nlohmann::json args = nlohmann::json::array();
  std::optional<uint8_t> action;  // enum myelin_hook_action: what a hook did (none for exec and exit)
  int64_t return_value = 0;  // lsm: what the hook returned (a negative errno: the operation was refused); kprobe: see has_return
  bool has_return = false;   // kprobe: return_value is what the function returned (return probe, Override, connect(2))
  // kprobe: how "return" shows the value, from the hook's returnArg type (decoded once, with the policy)
  enum class ReturnArg : uint8_t { int_arg, long_arg, size_arg } return_arg = ReturnArg::int_arg;
  nlohmann::json return_json;  // kprobe: "return" when the value is an object (a sock: {"sock_arg": ...}); null: return_arg
  std::optional<uint8_t> return_action;  // kprobe: returnArgAction done with it (enum myelin_hook_action: TrackSock, UntrackSock)
  std::string message;       // the hook's message and tags (TracingPolicy), as Tetragon's events carry them
  std::vector<std::string> tags;
  // The action as Tetragon names it (KPROBE_ACTION_POST, ...); "" for none.
  const char* action_name() const { return action ? abi::action_name(*action) : ""; }
  std::string type_name() const {
    switch (type) {
      case Type::exec: return "process_exec";
      case Type::exit: return "process_exit";
      case Type::lsm: return "process_lsm";
      case Type::uprobe: return "process_uprobe";
      case Type::kprobe: return "process_kprobe";
      case Type::usdt: return "process_usdt";
      case Type::loader: return "process_loader";
      case Type::tracepoint: break;
    }
    return "process_tracepoint";
  }
};

// One line of `myelin events -o json` / `tetra getevents -o json`.
nlohmann::json to_json(const Event& e, const std::string& node_name, int64_t mono_to_wall_ns);
// One line of `-o compact`, as `tetra getevents -o compact` prints it.
std::string to_compact(const Event& e);

struct EventFilter {
  std::vector<std::string> types;  // process_exec, process_exit, process_tracepoint, process_lsm, process_uprobe, process_kprobe, process_usdt, process_loader; empty: all
  std::string policy;              // events of this TracingPolicy (any hook kind)
  std::string pod;                 // NS/POD prefix, or POD prefix in any namespace
  std::string ns;
  std::string binary;              // substring of the binary path
  bool matches(const Event& e) const;
};

class EventStore {
 public:
  explicit EventStore(size_t capacity);
  void push(Event e);
  // The last `last` matching events (0: all stored), and the sequence to follow from.
  std::vector<Event> snapshot(const EventFilter& f, size_t last, uint64_t* next_seq) const;
  // Matching events after *next_seq, waiting up to `wait` for one.
  std::vector<Event> wait_next(const EventFilter& f, uint64_t* next_seq, std::chrono::milliseconds wait) const;
  uint64_t total() const;
  uint64_t overwritten() const;  // pushed out of the store before anyone could read them

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<Event> events_;
  uint64_t next_seq_ = 1, overwritten_ = 0;
};

}  // namespace myelin::runtime
