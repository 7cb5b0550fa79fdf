// SPDX-License-Identifier: Apache-2.0
#include "services/sock_lb_component.hpp"

#include "component/status_builder.hpp"
#include "metrics/metric_sink.hpp"
#include "myelin/flows/service_flows.hpp"
#include "myelin/log.hpp"

namespace myelin::services {

SockLbComponent::SockLbComponent(Options o, datapath::Datapath& dp, flows::FlowDecoder& decoder, flows::FlowStore& store,
                                 metrics::AgentCounters& counters, PodEndpoint pod_endpoint)
    : opts_(std::move(o)),
      dp_(dp),
      decoder_(decoder),
      store_(store),
      counters_(counters),
      pod_endpoint_(std::move(pod_endpoint)) {}

SockLbComponent::~SockLbComponent() { stop(); }

Status SockLbComponent::start() {
  if (!opts_.enabled) {
    log::info("socket-lb", "off (--socket-lb false): Services are served by the per-packet path only");
    return {};
  }
  std::string root = opts_.cgroup_root;
  if (root.empty()) {
    auto mount = datapath::cgroup2_mount();
    if (!mount) return Error{"--cgroup-root: " + mount.error().message};
    root = *mount;
  }
  auto lb = datapath::SockLb::start({root, [this](const char* m) { return dp_.map_fd(m); },
                                     [this](const myelin_sock_xlate_event& ev) { on_event(ev); }});
  if (!lb) return Error{"socket load balancing on " + root + ": " + lb.error().message, lb.error().code};
  lb_ = std::move(*lb);
  lost_seen_ = lb_->stats().events_lost;
  log::info("socket-lb", "attached connect4, sendmsg4, recvmsg4, getpeername4 to " + root);
  if (!lb_->udp_destroy())
    log::warn("socket-lb", "connected UDP sockets of removed backends are not destroyed on this node (" + lb_->no_udp_destroy() +
                               "): such a client keeps sending to the old backend until it reconnects");
  thread_ = std::thread([this] { run(); });
  return {};
}

void SockLbComponent::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  lb_.reset();  // the links go: nothing of ours stays on the cgroup
}

void SockLbComponent::on_event(const myelin_sock_xlate_event& ev) {
  const bool rev = ev.xlate_point == MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_REV ||
                   ev.xlate_point == MYELIN_SOCK_XLATE_POINT_PRE_DIRECTION_REV;
  ++(ev.drop_reason ? refused_ : rev ? reverse_ : forward_);
  flow::Flow f = decoder_.decode(ev, pod_endpoint_ ? pod_endpoint_(ev.netns_ino, ev.cgroup_id) : 0);
  // The same Services metrics as the per-packet path's (path="socket").
  if (auto svc = flows::service_flow_count(f)) counters_.service_flow(flows::outcome_name(svc->outcome), svc->path, svc->protocol);
  store_.push(std::move(f));
}

void SockLbComponent::backends_removed() {
  if (!lb_) return;
  if (!lb_->udp_destroy()) {
    ++destroy_skipped_;
    return;
  }
  destroy_pending_ = true;
}

Result<datapath::SockLb::DestroyResult> SockLbComponent::destroy_stale_udp() {
  if (!lb_) return datapath::SockLb::DestroyResult{};
  std::lock_guard lk(destroy_mu_);
  ++destroy_runs_;
  if (!lb_->udp_destroy()) return datapath::SockLb::DestroyResult{0, 0, true};
  auto r = lb_->destroy_stale_udp();
  if (!r) {
    ++destroy_errors_;
    return r.error();
  }
  destroyed_ += r->destroyed;
  if (r->destroyed)
    log::info("socket-lb", "destroyed " + std::to_string(r->destroyed) + " connected UDP sockets of removed backends (" +
                               std::to_string(r->netns) + " network namespaces)");
  return r;
}

void SockLbComponent::run() {
  auto last_check = std::chrono::steady_clock::now();
  while (!stop_) {
    int n = lb_->poll(50);
    if (n < 0 && n != -EINTR) {
      log::error("socket-lb", "ring buffer poll failed: " + std::string(strerror(-n)));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (destroy_pending_.exchange(false))
      if (auto r = destroy_stale_udp(); !r) log::warn("socket-lb", "destroying sockets of removed backends: " + r.error().message);
    auto now = std::chrono::steady_clock::now();
    if (now - last_check >= std::chrono::milliseconds(500)) {
      last_check = now;
      if (uint64_t lost = lb_->stats().events_lost; lost > lost_seen_) {
        store_.push_lost(flow::PERF_EVENT_RING_BUFFER, lost - lost_seen_);
        log::warn("socket-lb", std::to_string(lost - lost_seen_) + " socket translation events lost: ring buffer full");
        lost_seen_ = lost;
      }
    }
  }
}

void SockLbComponent::collect(metrics::MetricSink& sink) const {
  sink.gauge("myelin_sock_lb_attached", "Socket-level load balancing attached to the cgroup root (1) or off (0)")
      .add({}, lb_ ? 1 : 0);
  if (!lb_) return;
  sink.counter("myelin_sock_lb_translations_total", "Socket-level Service translations, by direction")
      .add({{"direction", "forward"}}, static_cast<double>(forward_))
      .add({{"direction", "reverse"}}, static_cast<double>(reverse_));
  sink.counter("myelin_sock_lb_refused_total", "connect()/sendmsg() to a frontend without backends refused (ECONNREFUSED)")
      .add({}, static_cast<double>(refused_));
  sink.gauge("myelin_sock_lb_udp_destroy_supported",
             "Connected UDP sockets of removed backends are destroyed here (1), or not: no bpf_sock_destroy (0)")
      .add({}, lb_->udp_destroy() ? 1 : 0);
  sink.counter("myelin_sock_lb_destroy_skipped_total",
               "Backend removals after which connected UDP sockets could not be destroyed (no bpf_sock_destroy)")
      .add({}, static_cast<double>(destroy_skipped_));
  sink.counter("myelin_sock_lb_destroyed_sockets_total", "Connected UDP sockets destroyed because their backend was removed")
      .add({}, static_cast<double>(destroyed_));
  sink.counter("myelin_sock_lb_destroy_errors_total", "Runs of the socket destruction that failed")
      .add({}, static_cast<double>(destroy_errors_));
  sink.counter("myelin_lost_events_total", "Events lost before a reader saw them, by where")
      .add({{"source", "sock_lb_ring"}}, static_cast<double>(lb_->stats().events_lost));
}

void SockLbComponent::status(component::StatusBuilder& b) const {
  auto* f = b.out().add_features();
  f->set_name("sock-lb-udp-destroy");
  f->set_available(lb_ && lb_->udp_destroy());
  f->set_detail(!lb_                  ? "socket LB off"
                : lb_->udp_destroy() ? "connected UDP sockets of removed backends are destroyed"
                                     : "connected UDP sockets of removed backends are NOT destroyed: " + lb_->no_udp_destroy());
}

}  // namespace myelin::services
