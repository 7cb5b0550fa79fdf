// SPDX-License-Identifier: Apache-2.0
// EventsLog: runtime events as JSON lines (the `myelin events -o json`
// shape, Tetragon's) in a size-rotated file. It follows the event store on
// its own thread; events pushed out of the store before it read them are
// written as a {"lost_events": N} line and counted, never skipped silently.
#pragma once

#include <atomic>
#include <thread>

#include "myelin/rotating_file.hpp"
#include "runtime_monitor.hpp"

namespace myelin::runtime {

class EventsLog {
 public:
  EventsLog(const RuntimeMonitor& monitor, RotatingFile::Options o) : monitor_(monitor), file_(std::move(o)) {}
  ~EventsLog() { stop(); }
  EventsLog(const EventsLog&) = delete;
  EventsLog& operator=(const EventsLog&) = delete;

  Status start() {
    if (auto s = file_.open(); !s) return s;
    thread_ = std::thread([this] { run(); });
    return {};
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    file_.close();
  }
  uint64_t written() const { return file_.written(); }
  uint64_t errors() const { return file_.errors(); }
  uint64_t lost() const { return lost_; }

 private:
  void run() {
    uint64_t next = 0;
    (void)monitor_.store().snapshot(EventFilter{}, 1, &next);  // from now on
    while (!stop_) {
      const uint64_t expected = next;
      auto batch = monitor_.store().wait_next(EventFilter{}, &next, std::chrono::milliseconds(200));
      if (!batch.empty() && batch.front().seq > expected) {
        lost_ += batch.front().seq - expected;
        file_.write_line("{\"lost_events\":{\"source\":\"EVENT_STORE\",\"num_events_lost\":" +
                         std::to_string(batch.front().seq - expected) + "}}\n");
      }
      for (const auto& e : batch) file_.write_line(to_json(e, monitor_.node_name(), monitor_.mono_to_wall_ns()).dump() + "\n");
    }
  }

  const RuntimeMonitor& monitor_;
  RotatingFile file_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> lost_{0};
};

}  // namespace myelin::runtime
