// SPDX-License-Identifier: Apache-2.0
// SocketMonitor: the per-process TCP sensor's records (connect, accept,
// close) as runtime events with the process and pod, in Tetragon's shape
// (process_kprobe with tcp_connect / inet_csk_accept / tcp_close and a
// sock_arg), consumed on the runtime monitor's thread.
#pragma once

#include <memory>

#include "myelin/datapath/socket_probes.hpp"
#include "runtime_monitor.hpp"
#include "sock_arg.hpp"

namespace myelin::runtime {

class SocketMonitor {
 public:
  static Result<std::unique_ptr<SocketMonitor>> start(RuntimeMonitor& runtime, const std::string& tracefs) {
    std::unique_ptr<SocketMonitor> m(new SocketMonitor(runtime));
    auto p = datapath::SocketProbes::start(tracefs, [raw = m.get()](const myelin_sock_event& e) { raw->on_event(e); });
    if (!p) return p.error();
    m->probes_ = std::move(*p);
    m->poller_ = runtime.add_poller([raw = m.get()] { raw->probes_->poll(0); });
    return m;
  }
  ~SocketMonitor() { runtime_.remove_poller(poller_); }
  SocketMonitor(const SocketMonitor&) = delete;
  SocketMonitor& operator=(const SocketMonitor&) = delete;
  uint64_t lost() const { return probes_->stats().events_lost; }


 private:
  explicit SocketMonitor(RuntimeMonitor& runtime) : runtime_(runtime) {}

  void on_event(const myelin_sock_event& e) {
    Event ev;
    ev.type = Event::Type::kprobe;
    ev.time_ns = static_cast<int64_t>(e.ktime_ns) + runtime_.mono_to_wall_ns();
    ev.event = e.type == MYELIN_SOCK_CONNECT ? "tcp_connect" : e.type == MYELIN_SOCK_ACCEPT ? "inet_csk_accept" : "tcp_close";
    ev.action = MYELIN_HOOK_ACT_POST;
    ev.args = nlohmann::json::array({{{"sock_arg", sock_arg(e.sock, e.cookie)}}});
    ev.return_value = e.ret;
    ev.has_return = e.type == MYELIN_SOCK_CONNECT;
    runtime_.publish_for(std::move(ev), e.pid, e.tid, e.uid, e.netns);
  }

  RuntimeMonitor& runtime_;
  std::unique_ptr<datapath::SocketProbes> probes_;
  int poller_ = 0;
};

}  // namespace myelin::runtime
