// SPDX-License-Identifier: Apache-2.0
// The local API socket, byte for byte: the input is what a client writes to
// the agent's Unix socket. The real ApiServer reads and decodes it
// (wire::recv, one framed Request); a dispatcher does with the request what
// the agent's handlers do without a kernel: observe (Hubble filters compiled,
// the flow store queried and followed), events (the runtime event filter),
// IPAM allocate and release (state in a temporary directory). The rest of the
// agent's routes need a loaded datapath and are not reached here.
// Invariants: every Response the client reads decodes, and a request that
// decoded is answered with a stream that ends with end_of_stream.
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <thread>

#include "fuzz_check.hpp"
#include "myelin.pb.h"
#include "myelin/flows/flow_store.hpp"
#include "myelin/ipam/ipam.hpp"
#include "myelin/log.hpp"
#include "myelin/wire.hpp"
#include "runtime/event_store.hpp"
#include "server/api_server.hpp"

using namespace myelin;
using namespace std::chrono_literals;

namespace {

api::Response fail(api::ErrorCode code, const std::string& message) {
  api::Response r;
  r.mutable_error()->set_code(code);
  r.mutable_error()->set_message(message);
  return r;
}

class Dispatcher : public server::Dispatcher {
 public:
  Dispatcher(std::unique_ptr<ipam::Ipam> ipam) : ipam_(std::move(ipam)), flows_(8), events_(8) {
    for (int i = 0; i < 10; ++i) {  // more than fit: the store has evicted some
      flow::Flow f;
      f.mutable_ip()->set_source("10.244.1." + std::to_string(i));
      f.mutable_ip()->set_destination("10.244.2.1");
      f.mutable_l4()->mutable_tcp()->set_destination_port(8080 + i);
      f.mutable_time()->set_seconds(1700000000 + i);
      f.set_verdict(i % 3 ? flow::FORWARDED : flow::DROPPED);
      f.mutable_source()->set_namespace_("shop");
      f.mutable_source()->set_pod_name("frontend-" + std::to_string(i));
      flows_.push(std::move(f));
      runtime::Event e;
      e.type = i % 2 ? runtime::Event::Type::exec : runtime::Event::Type::kprobe;
      e.process.binary = "/usr/bin/curl";
      e.process.pod = runtime::PodRef{"shop", "frontend-" + std::to_string(i), 0, ""};
      e.policy = "connect";
      events_.push(std::move(e));
    }
    flows_.push_lost(flow::PERF_EVENT_RING_BUFFER, 3);
  }

  void handle(const api::Request& req, const Reply& reply, const std::atomic<bool>& cancelled) override {
    switch (req.kind_case()) {
      case api::Request::kObserve: return observe(req.observe(), reply, cancelled);
      case api::Request::kEvents: return events(req.events(), reply);
      case api::Request::kIpamAllocate: {
        if (req.ipam_allocate().owner().empty()) return (void)reply(fail(api::INVALID_ARGUMENT, "IPAM allocate needs an owner"));
        auto ip = ipam_->allocate(req.ipam_allocate().owner());
        if (!ip) return (void)reply(fail(api::EXHAUSTED, ip.error().message));
        api::Response r;
        r.mutable_ipam_allocate()->set_ip(ip->str());
        reply(r);
        (void)ipam_->release(req.ipam_allocate().owner());  // the next input starts from the same state
        return;
      }
      case api::Request::kIpamRelease:
        if (auto s = ipam_->release(req.ipam_release().owner()); !s) return (void)reply(fail(api::INTERNAL, s.error().message));
        reply(api::Response());
        return;
      default:
        reply(fail(api::INVALID_ARGUMENT, "not reachable without a kernel"));
    }
  }

 private:
  // As FlowsComponent's observe route (agent/components.cpp), with a follow that waits no longer than one poll.
  void observe(const api::ObserveRequest& req, const Reply& reply, const std::atomic<bool>& cancelled) {
    auto filters = flows::FilterSet::compile(req.whitelist(), req.blacklist());
    if (!filters) return (void)reply(fail(api::INVALID_ARGUMENT, filters.error().message));
    flows::FlowStore::Cursor cursor;
    auto snapshot = flows_.query(req, "fuzz-node", &cursor);
    if (!snapshot) return (void)reply(fail(api::INVALID_ARGUMENT, snapshot.error().message));
    for (auto& f : *snapshot) {
      api::Response r;
      *r.mutable_flow() = std::move(f);
      if (!reply(r)) return;
    }
    if (req.follow() && !cancelled) (void)flows_.wait_next(cursor, *filters, 0ms, "fuzz-node");
  }

  // As RuntimeComponent's events route (runtime/runtime_components.cpp).
  void events(const api::EventsRequest& req, const Reply& reply) {
    runtime::EventFilter f{{req.types().begin(), req.types().end()}, req.policy(), req.pod(), req.namespace_(), req.binary()};
    uint64_t next = 0;
    for (const auto& e : events_.snapshot(f, req.last(), &next)) {
      api::Response r;
      r.mutable_runtime_event()->set_json(runtime::to_json(e, "fuzz-node", 0).dump());
      r.mutable_runtime_event()->set_compact(runtime::to_compact(e));
      if (!reply(r)) return;
    }
  }

  std::unique_ptr<ipam::Ipam> ipam_;
  flows::FlowStore flows_;
  runtime::EventStore events_;
};

std::string g_socket;
server::ApiServer* g_server = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log::set_level(log::Level::error);
  // Under $TMPDIR, which run.sh removes also after a crash (atexit does not run then).
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/myelin-fuzz-api.XXXXXX";
  if (!mkdtemp(dir.data())) std::abort();
  static const std::string root = dir;
  std::atexit([] { std::filesystem::remove_all(root); });
  auto cidr = net::parse_cidr4("10.244.1.0/24");
  auto ipam = ipam::Ipam::open(*cidr, root + "/ipam.json");
  FUZZ_CHECK(ipam.ok(), ipam.ok() ? "" : ipam.error().message);
  static Dispatcher dispatcher(std::move(*ipam));
  static server::ApiServer server(root + "/api.sock", dispatcher);
  FUZZ_CHECK(server.start().ok(), "start the API server");
  g_socket = root + "/api.sock";
  g_server = &server;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto fd = wire::connect_unix(g_socket, 1s);
  FUZZ_CHECK(fd.ok(), "connect");
  for (size_t off = 0; off < size;) {
    const ssize_t n = ::send(fd->get(), data + off, size - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server answered one frame and closed
    off += static_cast<size_t>(n);
  }
  ::shutdown(fd->get(), SHUT_WR);

  // Whether the server could decode a request from these bytes: one frame, a Request.
  bool decodable = false;
  if (size >= 4) {
    uint32_t len_be;
    std::memcpy(&len_be, data, 4);
    const uint32_t len = ntohl(len_be);
    api::Request req;
    decodable = len <= wire::kMaxFrame && len <= size - 4 && req.ParseFromArray(data + 4, static_cast<int>(len));
  }
  bool ended = false;
  for (;;) {
    api::Response r;
    auto st = wire::recv(fd->get(), r);
    if (!st) {
      FUZZ_CHECK(st.error().message == "closed" || st.error().code == ECONNRESET, "a response that does not decode: " + st.error().message);
      break;
    }
    FUZZ_CHECK(!ended, "a response after end_of_stream");
    ended = r.end_of_stream();
  }
  FUZZ_CHECK(ended == decodable, decodable ? "a decodable request without end_of_stream" : "an answer to bytes that are no request");
  // The connection's thread frees its request after the client saw the end:
  // wait for it, so what this input allocated is freed before the leak check.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (g_server->clients() != 0) {
    FUZZ_CHECK(std::chrono::steady_clock::now() < deadline, "the server still serves a connection the client closed, 10 s later");
    std::this_thread::sleep_for(20us);
  }
  return 0;
}
